// Calls whose answers must not enter TanStack Query's caches: the create and rotate responses carry
// a secret, and a mutation's result is kept in its MutationCache. The page calls the client
// directly, holds the answer in component state, and refreshes the cached lists itself.
import { useMemo } from "react";
import { createClient, type Client } from "@connectrpc/connect";
import { createConnectQueryKey, useTransport } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import { ApiKeyService } from "../../../contract/gen/apikeys/v1/api_key_service_pb.js";

/** A client of ApiKeyService on the page's transport. */
export function useApiKeysClient(): Client<typeof ApiKeyService> {
  const transport = useTransport();
  return useMemo(() => createClient(ApiKeyService, transport), [transport]);
}

/** Refetches every cached ApiKeyService answer (lists, activity) after a change. */
export function useRefreshKeys(): () => Promise<void> {
  const queryClient = useQueryClient();
  return () => queryClient.invalidateQueries({ queryKey: createConnectQueryKey({ schema: ApiKeyService, cardinality: undefined }) });
}
