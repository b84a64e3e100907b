// The scope catalog in memory, for FULL keys' scope decisions on the verification path. It is
// read once, and read again by the replica listener after every change to it (the `scopes`
// subject of server/replica) before that change is confirmed; it is read afresh on every use
// while changes may be missed (the listener is down).
import type { Db } from "../db/database.js";
import { listScopes } from "./scope.repository.js";

export interface CatalogSnapshot {
  /** The catalog's names, sorted. */
  readonly names: readonly string[];
  readonly set: ReadonlySet<string>;
}

export interface ScopeCatalog {
  /** The catalog now: at once when it is in memory, else once it has been read. */
  current(): CatalogSnapshot | Promise<CatalogSnapshot>;
  /**
   * The catalog changed: reads it again, and resolves once this replica serves that read or a
   * later one (while the catalog is off, at once: every use reads anyway). Until then the
   * previous catalog is served, so that a cached verification never waits for a query; scopes
   * are only ever added, so the older catalog can only refuse a scope that is brand new. Rejects
   * when the read fails.
   */
  refresh(): Promise<void>;
  /** Off: every use reads the database. On again: starts afresh. */
  setEnabled(enabled: boolean): void;
}

/** Creates the catalog for `db`. */
export function createScopeCatalog(db: Db): ScopeCatalog {
  let loaded: CatalogSnapshot | undefined;
  // The first read since the catalog was (re)enabled, shared by the uses that wait for it.
  let loading: Promise<CatalogSnapshot> | undefined;
  let enabled = true;
  // Reads are numbered as they start; one is served only if no later one is served already, and
  // only if the catalog was not turned off or on since it started.
  let started = 0;
  let served = 0;
  const load = async (): Promise<CatalogSnapshot> => {
    const names = Object.freeze((await listScopes(db)).map((s) => s.name));
    return { names, set: new Set(names) };
  };
  const read = async (): Promise<CatalogSnapshot> => {
    const number = ++started;
    const snapshot = await load();
    if (enabled && number > served) {
      served = number;
      loaded = snapshot;
    }
    return snapshot;
  };
  return {
    current() {
      if (!enabled) return load();
      if (loaded) return loaded;
      if (!loading) {
        const first = (loading = read());
        // A failed read is not kept: the next use reads again.
        void first.catch(() => {}).finally(() => {
          if (loading === first) loading = undefined;
        });
      }
      return loading;
    },
    async refresh() {
      if (enabled) await read();
    },
    setEnabled(on) {
      enabled = on;
      served = started;
      loaded = loading = undefined;
    },
  };
}
