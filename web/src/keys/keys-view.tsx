// Settings → API keys for owners and admins: the keys table (paged), the empty state, the
// dialogs, and the workspace's activity.
import { useState } from "react";
import { useInfiniteQuery } from "@connectrpc/connect-query";
import type { ApiKey } from "../../../contract/gen/apikeys/v1/api_key_pb.js";
import { ApiKeyService } from "../../../contract/gen/apikeys/v1/api_key_service_pb.js";
import { ActivityList } from "../activity/activity-list.js";
import { ErrorNotice } from "../ui/error-notice.js";
import { describeError } from "../ui/errors.js";
import { CreateKeyDialog } from "./create-key-dialog.js";
import { DeleteKeyDialog } from "./delete-key-dialog.js";
import { EditKeyDialog } from "./edit-key-dialog.js";
import { KeysTable, type KeyAction } from "./keys-table.js";
import { RotateKeyDialog } from "./rotate-key-dialog.js";

export interface KeysViewProps {
  readonly principalId: string;
  readonly pageSize: number;
}

type Open = { readonly kind: "create" } | { readonly kind: KeyAction; readonly key: ApiKey } | undefined;

/** The keys and activity tabs with their dialogs. */
export function KeysView({ principalId, pageSize }: KeysViewProps) {
  const [tab, setTab] = useState<"keys" | "activity">("keys");
  const [open, setOpen] = useState<Open>();
  const keys = useInfiniteQuery(
    ApiKeyService.method.listApiKeys,
    { pageSize, pageToken: "" },
    { pageParamKey: "pageToken", getNextPageParam: (page) => page.nextPageToken || undefined },
  );
  const all = keys.data?.pages.flatMap((p) => p.apiKeys) ?? [];
  const close = () => setOpen(undefined);
  const create = (
    <button type="button" className="ak-button ak-button--primary" onClick={() => setOpen({ kind: "create" })}>
      <svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true">
        <path d="M8 3v10M3 8h10" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
      </svg>
      Create API key
    </button>
  );
  return (
    <>
      <header className="ak-page-header">
        <div>
          <h1 className="ak-page-title">API keys</h1>
          <p className="ak-page-lead">Keys let your applications and integrations call the API on behalf of this workspace. Give each integration its own key, with only the access it needs.</p>
        </div>
        {all.length > 0 ? create : null}
      </header>
      <div
        className="ak-tabs"
        role="tablist"
        aria-label="API keys sections"
        onKeyDown={(e) => {
          // The tab pattern: arrow keys move between tabs; Tab leaves the list.
          if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
          const next = tab === "keys" ? "activity" : "keys";
          setTab(next);
          document.getElementById(`ak-tab-${next}`)?.focus();
        }}
      >
        {(["keys", "activity"] as const).map((t) => (
          <button
            key={t}
            type="button"
            role="tab"
            id={`ak-tab-${t}`}
            aria-controls={tab === t ? `ak-panel-${t}` : undefined}
            aria-selected={tab === t}
            tabIndex={tab === t ? 0 : -1}
            className="ak-tab"
            onClick={() => setTab(t)}
          >
            {t === "keys" ? "Keys" : "Activity"}
          </button>
        ))}
      </div>
      {tab === "keys" ? (
        <section id="ak-panel-keys" role="tabpanel" aria-labelledby="ak-tab-keys" className="ak-panel">
          {keys.error ? (
            <ErrorNotice error={describeError(keys.error)} onRetry={() => void keys.refetch()} />
          ) : keys.isPending ? (
            <div className="ak-card ak-loading" aria-busy="true">
              Loading keys…
            </div>
          ) : all.length === 0 ? (
            <div className="ak-card ak-empty">
              <div className="ak-empty__icon" aria-hidden="true">
                <svg viewBox="0 0 24 24" width="28" height="28">
                  <circle cx="8" cy="12" r="4.5" fill="none" stroke="currentColor" strokeWidth="1.8" />
                  <path d="M12.5 12H21m-3 0v3.5M15.5 12v2.5" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" />
                </svg>
              </div>
              <h2 className="ak-empty__title">No API keys yet</h2>
              <p className="ak-empty__text">
                An API key lets a program, such as an integration, a script or a CI job, call the API as this workspace without anyone signing in. You choose what each key may do, and you can
                edit, rotate or delete it at any time.
              </p>
              {create}
            </div>
          ) : (
            <>
              <KeysTable keys={all} principalId={principalId} onAction={(kind, key) => setOpen({ kind, key })} />
              <div className="ak-table-footer">
                <span className="ak-hint" aria-live="polite">
                  {keys.hasNextPage ? `Showing the newest ${all.length} keys` : `${all.length} ${all.length === 1 ? "key" : "keys"}`}
                </span>
                {keys.hasNextPage ? (
                  <button type="button" className="ak-button ak-button--secondary ak-button--small" disabled={keys.isFetchingNextPage} onClick={() => void keys.fetchNextPage()}>
                    {keys.isFetchingNextPage ? "Loading…" : "Load more keys"}
                  </button>
                ) : null}
              </div>
            </>
          )}
        </section>
      ) : (
        <section id="ak-panel-activity" role="tabpanel" aria-labelledby="ak-tab-activity" className="ak-panel">
          <div className="ak-card ak-card--padded">
            <ActivityList keyNames={new Map(all.map((k) => [k.id, k.name]))} />
          </div>
        </section>
      )}
      {open?.kind === "create" ? <CreateKeyDialog onClose={close} /> : null}
      {open?.kind === "edit" ? <EditKeyDialog apiKey={open.key} onClose={close} /> : null}
      {open?.kind === "rotate" ? <RotateKeyDialog apiKey={open.key} onClose={close} /> : null}
      {open?.kind === "delete" ? <DeleteKeyDialog apiKey={open.key} onClose={close} /> : null}
    </>
  );
}
