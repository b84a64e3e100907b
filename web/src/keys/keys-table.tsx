// The keys table: Name, Key, Permissions, Created, Last used, and each key's actions. On narrow
// screens the rows become cards (styles.css); the table semantics stay.
import type { ApiKey } from "../../../contract/gen/apikeys/v1/api_key_pb.js";
import { formatDate, formatDateTime, formatRelative } from "../ui/format.js";
import { PermissionsBadge } from "./permissions-badge.js";

export type KeyAction = "edit" | "rotate" | "delete";

export interface KeysTableProps {
  readonly keys: readonly ApiKey[];
  /** The signed-in principal, so that their own keys read "by you". */
  readonly principalId: string;
  readonly onAction: (action: KeyAction, key: ApiKey) => void;
}

/** The table of keys. */
export function KeysTable({ keys, principalId, onAction }: KeysTableProps) {
  return (
    <div className="ak-table-wrap">
      <table className="ak-table">
        <caption className="ak-visually-hidden">API keys of this workspace, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Key</th>
            <th scope="col">Permissions</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">
              <span className="ak-visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {keys.map((key) => (
            <tr key={key.id}>
              <td data-label="Name" className="ak-table__name">
                <span className="ak-key-name">{key.name}</span>
              </td>
              <td data-label="Key">
                <code className="ak-hint-code" translate="no">
                  {key.hint}
                </code>
              </td>
              <td data-label="Permissions">
                <PermissionsBadge apiKey={key} />
              </td>
              <td data-label="Created">
                <span className="ak-cell-main" title={formatDateTime(key.createTime)}>
                  {formatDate(key.createTime)}
                </span>
                <span className="ak-cell-sub">by {key.createdBy === principalId ? "you" : key.createdByName || key.createdBy}</span>
              </td>
              <td data-label="Last used">
                <span className={key.lastUsedTime ? "ak-cell-main" : "ak-cell-muted"} title={formatDateTime(key.lastUsedTime)}>
                  {formatRelative(key.lastUsedTime)}
                </span>
              </td>
              <td className="ak-table__actions">
                <div className="ak-row-actions" role="group" aria-label={`Actions for ${key.name}`}>
                  <button type="button" className="ak-button ak-button--ghost ak-button--small" onClick={() => onAction("edit", key)}>
                    Edit
                  </button>
                  <button type="button" className="ak-button ak-button--ghost ak-button--small" onClick={() => onAction("rotate", key)}>
                    Rotate
                  </button>
                  <button type="button" className="ak-button ak-button--ghost-danger ak-button--small" onClick={() => onAction("delete", key)}>
                    Delete
                  </button>
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
