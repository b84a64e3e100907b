// Audit events, newest first: of the whole workspace, or of one key.
import { useInfiniteQuery } from "@connectrpc/connect-query";
import { ApiKeyService } from "../../../contract/gen/apikeys/v1/api_key_service_pb.js";
import { AuditAction, type AuditEvent } from "../../../contract/gen/apikeys/v1/audit_event_pb.js";
import { ErrorNotice } from "../ui/error-notice.js";
import { describeError } from "../ui/errors.js";
import { formatDateTime, formatRelative } from "../ui/format.js";

export interface ActivityListProps {
  /** Only this key's events; the whole workspace when unset. */
  readonly apiKeyId?: string;
  readonly pageSize?: number;
  readonly compact?: boolean;
  /** Names of keys the page has loaded, for events that record only the key's id. */
  readonly keyNames?: ReadonlyMap<string, string>;
}

const VERBS: Readonly<Record<AuditAction, string>> = {
  [AuditAction.UNSPECIFIED]: "changed",
  [AuditAction.CREATE]: "created",
  [AuditAction.UPDATE]: "edited",
  [AuditAction.ROTATE]: "rotated",
  [AuditAction.DELETE]: "deleted",
  [AuditAction.LEGACY_REVOKE]: "revoked the legacy account key",
  [AuditAction.LEGACY_IMPORT]: "imported the legacy account key",
};

/** A paged list of audit events. */
export function ActivityList({ apiKeyId = "", pageSize = 25, compact = false, keyNames }: ActivityListProps) {
  const events = useInfiniteQuery(
    ApiKeyService.method.listAuditEvents,
    { apiKeyId, pageSize, pageToken: "" },
    { pageParamKey: "pageToken", getNextPageParam: (page) => page.nextPageToken || undefined },
  );
  if (events.error) return <ErrorNotice error={describeError(events.error)} onRetry={() => void events.refetch()} />;
  if (events.isPending) return <p className="ak-hint ak-activity__loading">Loading activity…</p>;
  const all = events.data.pages.flatMap((p) => p.events);
  if (all.length === 0) return <p className="ak-hint ak-activity__empty">No activity yet.</p>;
  return (
    <div className={`ak-activity${compact ? " ak-activity--compact" : ""}`}>
      <ol className="ak-activity__list">
        {all.map((event) => (
          <li key={event.id} className="ak-activity__item">
            <span className={`ak-activity__dot ak-activity__dot--${AuditAction[event.action].toLowerCase()}`} aria-hidden="true" />
            <div className="ak-activity__body">
              <p className="ak-activity__line">
                <strong>{event.actorName || event.actorId || "Someone"}</strong> {describeEvent(event, keyNames)}
              </p>
              {!compact && event.changes.length > 0 ? <p className="ak-activity__changes">{describeChanges(event)}</p> : null}
            </div>
            <time className="ak-activity__time" title={formatDateTime(event.time)}>
              {formatRelative(event.time)}
            </time>
          </li>
        ))}
      </ol>
      {events.hasNextPage ? (
        <button type="button" className="ak-button ak-button--secondary ak-button--small" disabled={events.isFetchingNextPage} onClick={() => void events.fetchNextPage()}>
          {events.isFetchingNextPage ? "Loading…" : "Show older activity"}
        </button>
      ) : null}
    </div>
  );
}

function keyName(event: AuditEvent): string | undefined {
  const name = event.changes.find((c) => c.field === "name");
  return name ? plain(name.newValue || name.oldValue) : undefined;
}

function describeEvent(event: AuditEvent, keyNames: ReadonlyMap<string, string> | undefined): string {
  const verb = VERBS[event.action];
  if (event.action === AuditAction.LEGACY_REVOKE || event.action === AuditAction.LEGACY_IMPORT) return verb;
  const name = keyName(event) ?? keyNames?.get(event.apiKeyId);
  return name ? `${verb} the key “${name}”` : `${verb} the key ${event.apiKeyId}`;
}

function describeChanges(event: AuditEvent): string {
  return event.changes
    .filter((c) => !(event.action === AuditAction.CREATE && c.field === "name"))
    .filter((c) => !(c.field === "scopes" && plain(c.oldValue || "[]") === "none" && plain(c.newValue || "[]") === "none"))
    .map((c) => {
      if (c.field === "grace_period_seconds") {
        const seconds = Number(c.newValue);
        return seconds > 0 ? `old secret kept working for ${formatDuration(seconds)}` : "old secret stopped at once";
      }
      const field = c.field === "hint" ? "key" : c.field.replace(/_/g, " ");
      if (c.oldValue && c.newValue) return `${field}: ${plain(c.oldValue)} → ${plain(c.newValue)}`;
      return `${field}: ${plain(c.newValue || c.oldValue)}`;
    })
    .join(" · ");
}

function formatDuration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600} ${seconds === 3600 ? "hour" : "hours"}`;
  if (seconds % 60 === 0) return `${seconds / 60} minutes`;
  return `${seconds} seconds`;
}

// Recorded values are JSON ("\"FULL\"", "[\"a\",\"b\"]"); show them as words.
function plain(value: string): string {
  try {
    const parsed: unknown = JSON.parse(value);
    if (Array.isArray(parsed)) return parsed.length === 0 ? "none" : parsed.join(", ");
    if (typeof parsed === "string" && /^(access_level_)?full$/i.test(parsed)) return "Full access";
    if (typeof parsed === "string" && /^(access_level_)?custom$/i.test(parsed)) return "Custom";
    return String(parsed);
  } catch {
    return value;
  }
}
