// The fields shared by the create and edit dialogs: name (with the server's rules shown while
// typing), access level, and the scope picker for Custom access.
import { useId, useMemo, useState } from "react";
import { useQuery } from "@connectrpc/connect-query";
import { AccessLevel } from "../../../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService } from "../../../contract/gen/apikeys/v1/api_key_service_pb.js";
import { describeNameProblem, NAME_MAX } from "../../../contract/key-name.js";
import { describeError } from "../ui/errors.js";

/** The values the create and edit dialogs collect. */
export interface KeyFormValues {
  readonly name: string;
  readonly access: AccessLevel;
  readonly scopes: readonly string[];
}

/** Why the form cannot be sent yet, per field; empty when it can. */
export function validateKeyForm(values: KeyFormValues): Record<string, string> {
  const problems: Record<string, string> = {};
  const nameProblem = describeNameProblem(values.name.trim());
  if (nameProblem) problems.name = `Name ${nameProblem}.`;
  if (values.access === AccessLevel.CUSTOM && values.scopes.length === 0) problems.scopes = "Select at least one scope, or choose Full access.";
  return problems;
}

export interface NameFieldProps {
  readonly value: string;
  readonly onChange: (value: string) => void;
  /** A problem to show now: the server's, or the rule once the person has typed. */
  readonly error?: string;
  readonly autoFocus?: boolean;
}

/** The key name, with the naming guidance and the live rule. */
export function NameField({ value, onChange, error, autoFocus }: NameFieldProps) {
  const id = useId();
  const [typed, setTyped] = useState(false);
  const rule = typed ? describeNameProblem(value.trim()) : undefined;
  const shown = error ?? (rule ? `Name ${rule}.` : undefined);
  const length = [...value.trim()].length;
  return (
    <div className="ak-field">
      <label className="ak-label" htmlFor={id}>
        Name
      </label>
      <p className="ak-hint" id={`${id}-hint`}>
        Tool + environment + purpose, so that everyone knows what breaks if the key is deleted. For example “Zapier (production)” or “Snowflake staging export”.
      </p>
      <input
        id={id}
        className="ak-input"
        type="text"
        value={value}
        autoComplete="off"
        spellCheck={false}
        data-autofocus={autoFocus ? true : undefined}
        placeholder="Zapier (production)"
        aria-invalid={shown ? true : undefined}
        aria-describedby={`${id}-hint ${id}-rule`}
        onChange={(e) => {
          setTyped(true);
          onChange(e.target.value);
        }}
      />
      <div className="ak-field__meta" id={`${id}-rule`} aria-live="polite">
        {shown ? <span className="ak-field-error">{shown}</span> : <span className="ak-hint">1 to {NAME_MAX} characters, no line breaks or tabs.</span>}
        <span className={`ak-counter${length > NAME_MAX ? " ak-counter--over" : ""}`}>
          {length}/{NAME_MAX}
        </span>
      </div>
    </div>
  );
}

export interface AccessFieldProps {
  readonly access: AccessLevel;
  readonly scopes: readonly string[];
  readonly onAccessChange: (access: AccessLevel) => void;
  readonly onScopesChange: (scopes: readonly string[]) => void;
  readonly scopesError?: string;
}

/** The access level radios and, for Custom, the scope picker. */
export function AccessField({ access, scopes, onAccessChange, onScopesChange, scopesError }: AccessFieldProps) {
  const name = useId();
  return (
    <fieldset className="ak-field ak-fieldset">
      <legend className="ak-label">Access</legend>
      <div className="ak-choice-group">
        <label className={`ak-choice${access === AccessLevel.FULL ? " ak-choice--selected" : ""}`}>
          <input type="radio" name={name} checked={access === AccessLevel.FULL} onChange={() => onAccessChange(AccessLevel.FULL)} aria-labelledby={`${name}-full-title`} aria-describedby={`${name}-full`} />
          <span className="ak-choice__body">
            <span className="ak-choice__title" id={`${name}-full-title`}>
              Full access
            </span>
            <span className="ak-choice__text" id={`${name}-full`}>
              All current and future scopes.
            </span>
          </span>
        </label>
        <label className={`ak-choice${access === AccessLevel.CUSTOM ? " ak-choice--selected" : ""}`}>
          <input type="radio" name={name} checked={access === AccessLevel.CUSTOM} onChange={() => onAccessChange(AccessLevel.CUSTOM)} aria-labelledby={`${name}-custom-title`} aria-describedby={`${name}-custom`} />
          <span className="ak-choice__body">
            <span className="ak-choice__title" id={`${name}-custom-title`}>
              Custom
            </span>
            <span className="ak-choice__text" id={`${name}-custom`}>
              Only the scopes you select; new scopes are not included automatically.
            </span>
          </span>
        </label>
      </div>
      {access === AccessLevel.CUSTOM ? <ScopePicker selected={scopes} onChange={onScopesChange} error={scopesError} /> : null}
    </fieldset>
  );
}

interface ScopePickerProps {
  readonly selected: readonly string[];
  readonly onChange: (scopes: readonly string[]) => void;
  readonly error?: string | undefined;
}

function ScopePicker({ selected, onChange, error }: ScopePickerProps) {
  const id = useId();
  const [filter, setFilter] = useState("");
  const catalog = useQuery(ApiKeyService.method.listScopes, {});
  const scopes = catalog.data?.scopes ?? [];
  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    return f === "" ? scopes : scopes.filter((s) => s.name.toLowerCase().includes(f) || s.description.toLowerCase().includes(f));
  }, [scopes, filter]);
  const chosen = new Set(selected);
  const toggle = (name: string, on: boolean) => onChange(on ? [...selected, name].sort() : selected.filter((s) => s !== name));
  return (
    <div className="ak-scope-picker" role="group" aria-labelledby={`${id}-label`}>
      <div className="ak-scope-picker__head">
        <span className="ak-label" id={`${id}-label`}>
          Scopes
        </span>
        <span className="ak-hint">
          {chosen.size} of {scopes.length} selected
        </span>
      </div>
      {scopes.length > 6 ? (
        <input
          className="ak-input ak-input--search"
          type="search"
          aria-label="Search scopes"
          placeholder="Search scopes"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
        />
      ) : null}
      {catalog.error ? <p className="ak-field-error">{describeError(catalog.error).message}</p> : null}
      {catalog.isPending ? <p className="ak-hint">Loading scopes…</p> : null}
      <ul className={`ak-scope-list${error ? " ak-scope-list--invalid" : ""}`}>
        {shown.map((scope) => (
          <li key={scope.name}>
            <label className="ak-scope">
              <input type="checkbox" checked={chosen.has(scope.name)} onChange={(e) => toggle(scope.name, e.target.checked)} />
              <span className="ak-scope__body">
                <code className="ak-scope__name">{scope.name}</code>
                {scope.description ? <span className="ak-scope__description">{scope.description}</span> : null}
              </span>
            </label>
          </li>
        ))}
        {!catalog.isPending && shown.length === 0 ? <li className="ak-hint ak-scope-list__empty">No scope matches “{filter}”.</li> : null}
      </ul>
      {error ? <p className="ak-field-error">{error}</p> : null}
    </div>
  );
}
