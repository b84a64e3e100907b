// "Full access" or "Custom", with the detailed scopes in a tooltip on hover and keyboard focus.
// The tooltip renders in place (no portal): it stays inside the page's landmarks and its root's
// CSS variables, and Radix positions it with position: fixed, so the table's overflow never clips it.
import * as Tooltip from "@radix-ui/react-tooltip";
import { AccessLevel, type ApiKey } from "../../../contract/gen/apikeys/v1/api_key_pb.js";

/** The permissions cell of a key. */
export function PermissionsBadge({ apiKey }: { readonly apiKey: ApiKey }) {
  const full = apiKey.access === AccessLevel.FULL;
  const scopes = full ? apiKey.effectiveScopes : apiKey.scopes;
  return (
    <Tooltip.Root delayDuration={150}>
      <Tooltip.Trigger asChild>
        <button type="button" className={`ak-badge ${full ? "ak-badge--full" : "ak-badge--custom"}`}>
          {full ? "Full access" : "Custom"}
        </button>
      </Tooltip.Trigger>
      <Tooltip.Content className="ak-tooltip" side="bottom" align="start" sideOffset={6} collisionPadding={12}>
        <p className="ak-tooltip__title">{full ? `Every scope in the catalog today (${scopes.length}):` : `${scopes.length} selected ${scopes.length === 1 ? "scope" : "scopes"}:`}</p>
        <ul className="ak-tooltip__scopes">
          {scopes.map((s) => (
            <li key={s}>
              <code>{s}</code>
            </li>
          ))}
        </ul>
        <p className="ak-tooltip__note">{full ? "Scopes added in the future are included automatically." : "Scopes added in the future are not included."}</p>
        <Tooltip.Arrow className="ak-tooltip__arrow" width={12} height={6} />
      </Tooltip.Content>
    </Tooltip.Root>
  );
}
