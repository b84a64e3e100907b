// The providers every view needs (transport, query cache, tooltips) and the root element that
// carries the host's class name and CSS variables.
import { useState, type CSSProperties, type ReactNode } from "react";
import { Code, ConnectError, type Transport } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import * as Tooltip from "@radix-ui/react-tooltip";

/** CSS variables a host may set to restyle the page (see styles.css for every one). */
export type ThemeVariable =
  | "--ak-font"
  | "--ak-font-mono"
  | "--ak-accent"
  | "--ak-accent-hover"
  | "--ak-accent-text"
  | "--ak-bg"
  | "--ak-surface"
  | "--ak-surface-muted"
  | "--ak-border"
  | "--ak-text"
  | "--ak-text-muted"
  | "--ak-danger"
  | "--ak-radius"
  | "--ak-focus";

/** Styling hooks shared by the page's entry points. */
export interface StylingProps {
  /** Added to the page's root element (which always has the class `ak-root`). */
  readonly className?: string;
  /** CSS variables set on the root element, such as `{ "--ak-accent": "#0a7" }`. */
  readonly theme?: Partial<Record<ThemeVariable, string>>;
}

export interface PageRootProps extends StylingProps {
  readonly transport: Transport;
  /** The host's query cache; by default the page keeps its own. */
  readonly queryClient?: QueryClient | undefined;
  readonly children: ReactNode;
}

// A retry cannot fix these: the answer will be the same until someone acts.
const FINAL = new Set([Code.Unauthenticated, Code.PermissionDenied, Code.NotFound, Code.InvalidArgument, Code.Unimplemented, Code.FailedPrecondition]);

/** A query cache with the page's retry rules. */
export function createPageQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: (failures, err) => failures < 2 && !FINAL.has(ConnectError.from(err).code),
        staleTime: 5_000,
      },
    },
  });
}

/** Wraps a view in the page's providers and root element. */
export function PageRoot({ transport, queryClient, className, theme, children }: PageRootProps) {
  const [ownClient] = useState(createPageQueryClient);
  return (
    <div className={`ak-root${className ? ` ${className}` : ""}`} style={theme as CSSProperties | undefined}>
      <TransportProvider transport={transport}>
        <QueryClientProvider client={queryClient ?? ownClient}>
          <Tooltip.Provider delayDuration={150}>{children}</Tooltip.Provider>
        </QueryClientProvider>
      </TransportProvider>
    </div>
  );
}
