// Dates and durations as people read them.
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

const dateFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit" });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "Dec 8, 2026"; empty when unset. */
export function formatDate(ts: Timestamp | undefined): string {
  return ts ? dateFormat.format(timestampDate(ts)) : "";
}

/** "Dec 8, 2026, 1:05 AM"; empty when unset. */
export function formatDateTime(ts: Timestamp | undefined): string {
  return ts ? dateTimeFormat.format(timestampDate(ts)) : "";
}

/** "5 minutes ago", "yesterday"; "never" when unset. */
export function formatRelative(ts: Timestamp | undefined, now = Date.now()): string {
  if (!ts) return "never";
  const seconds = (timestampDate(ts).getTime() - now) / 1000;
  const abs = Math.abs(seconds);
  if (abs < 60) return "just now";
  if (abs < 3600) return relative.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return relative.format(Math.round(seconds / 3600), "hour");
  if (abs < 86400 * 30) return relative.format(Math.round(seconds / 86400), "day");
  return formatDate(ts);
}
