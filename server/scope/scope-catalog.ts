// The scope catalog in memory, for FULL keys' scope decisions on the verification path. It is
// read once and again after every change to it (the `scopes` subject of server/replica), and read
// afresh on every use while changes may be missed (the listener is down).
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
  /** Forgets the catalog: it changed. */
  invalidate(): void;
  /** Off: every use reads the database. On again: starts afresh. */
  setEnabled(enabled: boolean): void;
}

/** Creates the catalog for `db`. */
export function createScopeCatalog(db: Db): ScopeCatalog {
  // The catalog in memory, and a read of it in flight.
  let loaded: CatalogSnapshot | undefined;
  let loading: Promise<CatalogSnapshot> | undefined;
  let enabled = true;
  let version = 0;
  const load = async (): Promise<CatalogSnapshot> => {
    const names = Object.freeze((await listScopes(db)).map((s) => s.name));
    return { names, set: new Set(names) };
  };
  return {
    current() {
      if (!enabled) return load();
      if (loaded) return loaded;
      if (!loading) {
        const loadedFor = version;
        const read = (loading = load());
        // A failed read, or one that a change overtook, is not kept.
        read
          .then(
            (snapshot) => {
              if (loadedFor === version) loaded = snapshot;
            },
            () => {},
          )
          .finally(() => {
            if (loading === read) loading = undefined;
          });
      }
      return loading;
    },
    invalidate() {
      version++;
      loaded = loading = undefined;
    },
    setEnabled(on) {
      enabled = on;
      version++;
      loaded = loading = undefined;
    },
  };
}
