// The verification cache and the argon2 pool on their own: eviction, generations, TTL, LRU, the
// fail-closed switch, and the pool's bounds. Through the server they are in replicas.test.ts.
import { describe, expect, it, vi } from "vitest";
import { loadConfig } from "../server/config.js";
import { BusyError } from "../server/errors.js";
import { createLogger } from "../server/logger.js";
import { createArgon2Pool } from "../server/verify/argon2-pool.js";
import { createVerificationCache, type CachedKey } from "../server/verify/verification-cache.js";
import { createHmac, randomBytes } from "node:crypto";
import { createTokenHmac } from "../server/verify/token-hmac.js";

const entry = (subject: string, expiresAt = Date.now() + 60_000): CachedKey => ({ subject, workspaceId: "ws", access: "full", scopes: [], legacy: false, expiresAt });

describe("verification cache", () => {
  it("at the default size, keeps 150,000 active keys without evicting any", () => {
    const cache = createVerificationCache({ ttlMs: 60_000, maxEntries: loadConfig({}).cacheMaxEntries });
    const g = cache.generation();
    for (let i = 0; i < 150_000; i++) cache.set(`ak_${i}`, entry(`k${i}`), g);
    let found = 0;
    for (let i = 0; i < 150_000; i++) if (cache.get(`ak_${i}`)?.subject === `k${i}`) found++;
    expect(found).toBe(150_000);
  }, 120_000);

  it("serves what was stored, and nothing for other tokens", () => {
    const cache = createVerificationCache({ ttlMs: 60_000, maxEntries: 10 });
    cache.set("ak_one", entry("k1"), cache.generation());
    expect(cache.get("ak_one")?.subject).toBe("k1");
    expect(cache.get("ak_two")).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, size: 1 });
  });

  it("evicts every token of a subject, and refuses results read before the eviction", () => {
    const cache = createVerificationCache({ ttlMs: 60_000, maxEntries: 10 });
    const before = cache.generation();
    cache.set("ak_current", entry("k1"), before);
    cache.set("ak_previous", entry("k1"), before);
    cache.set("ak_other", entry("k2"), before);
    cache.evict("k1");
    expect(cache.get("ak_current")).toBeUndefined();
    expect(cache.get("ak_previous")).toBeUndefined();
    expect(cache.get("ak_other")?.subject).toBe("k2");
    // A miss that read the row before the eviction must not put the old state back.
    cache.set("ak_current", entry("k1"), before);
    expect(cache.get("ak_current")).toBeUndefined();
    // One that read it after the eviction may.
    cache.set("ak_current", entry("k1"), cache.generation());
    expect(cache.get("ak_current")?.subject).toBe("k1");
  });

  it("evicts a subject's tokens that are left after others of it went (expired or dropped when full)", () => {
    const cache = createVerificationCache({ ttlMs: 60_000, maxEntries: 3 });
    const g = cache.generation();
    cache.set("ak_expired", entry("k1", Date.now() - 1), g);
    cache.set("ak_current", entry("k1"), g);
    cache.set("ak_grace", entry("k1"), g);
    expect(cache.get("ak_expired")).toBeUndefined(); // expired: removed
    cache.set("ak_x", entry("x"), g);
    cache.set("ak_y", entry("y"), g); // full: drops ak_current, the least recently used
    expect(cache.get("ak_current")).toBeUndefined();
    cache.evict("k1");
    expect(cache.get("ak_grace")).toBeUndefined();
    expect(cache.stats().size).toBe(2);
    // A lone token of a subject is evicted as well.
    cache.evict("x");
    expect(cache.get("ak_x")).toBeUndefined();
    expect(cache.get("ak_y")?.subject).toBe("y");
  });

  it("counts what it drops by reason: a change, expiry, a full cache, the cache turned off", () => {
    const cache = createVerificationCache({ ttlMs: 60_000, maxEntries: 2 });
    const g = cache.generation();
    cache.set("ak_expired", entry("k1", Date.now() - 1), g);
    expect(cache.get("ak_expired")).toBeUndefined();
    cache.set("ak_a", entry("a"), g);
    cache.set("ak_b", entry("b"), g);
    cache.set("ak_c", entry("c"), g); // full: ak_a goes
    cache.evict("c");
    cache.evict("nothing-cached");
    cache.setEnabled(false); // ak_b goes
    expect(cache.stats().evictions).toEqual({ expired: 1, full: 1, changed: 1, cleared: 1 });
  });

  it("tells whether what was read about a subject may have changed since a generation", () => {
    const cache = createVerificationCache({ ttlMs: 60_000, maxEntries: 10 });
    const before = cache.generation();
    cache.evict("k1");
    const after = cache.generation();
    expect([cache.changedSince("k1", before), cache.changedSince("k1", after), cache.changedSince("k2", before)]).toEqual([true, false, false]);
    cache.clear();
    expect(cache.changedSince("k2", after)).toBe(true);
    const now = cache.generation();
    cache.setEnabled(false);
    expect(cache.changedSince("k2", now)).toBe(true);
  });

  it("does not serve an entry past its expiry", () => {
    const cache = createVerificationCache({ ttlMs: 60_000, maxEntries: 10 });
    cache.set("ak_old", entry("k1", Date.now() - 1), cache.generation());
    expect(cache.get("ak_old")).toBeUndefined();
    expect(cache.stats().size).toBe(0);
  });

  it("drops the least recently used entry when full", () => {
    const cache = createVerificationCache({ ttlMs: 60_000, maxEntries: 2 });
    const g = cache.generation();
    cache.set("ak_a", entry("a"), g);
    cache.set("ak_b", entry("b"), g);
    cache.get("ak_a");
    cache.set("ak_c", entry("c"), g);
    expect(cache.get("ak_b")).toBeUndefined();
    expect(cache.get("ak_a")?.subject).toBe("a");
    expect(cache.get("ak_c")?.subject).toBe("c");
  });

  it("moves a hit entry to the back only once half the limit was stored after it", () => {
    const cache = createVerificationCache({ ttlMs: 60_000, maxEntries: 10 });
    const g = cache.generation();
    for (let i = 0; i < 10; i++) cache.set(`ak_${i}`, entry(`k${i}`), g);
    // ak_0 has nine entries stored after it: moved. ak_6 has three: left where it is.
    expect(cache.get("ak_0")?.subject).toBe("k0");
    expect(cache.get("ak_6")?.subject).toBe("k6");
    for (let n = 1; n <= 6; n++) cache.set(`ak_new${n}`, entry(`n${n}`), g);
    // Six stores dropped ak_1 to ak_6 in map order. ak_6's hit had not moved it; six stores came
    // after that hit, more than half the limit, so dropping it is within the bound.
    const present = Array.from({ length: 10 }, (_, i) => `ak_${i}`).filter((token) => cache.get(token) !== undefined);
    expect(present).toEqual(["ak_0", "ak_7", "ak_8", "ak_9"]);
  });

  it("keeps an entry in use past the TTL, drops one left unused for the TTL, and never serves one past its expiry", () => {
    vi.useFakeTimers({ now: 1_000_000, toFake: ["Date"] });
    try {
      const cache = createVerificationCache({ ttlMs: 10_000, maxEntries: 10 });
      const g = cache.generation();
      cache.set("ak_busy", entry("busy", Date.now() + 60_000), g);
      cache.set("ak_idle", entry("idle", Date.now() + 60_000), g);
      cache.set("ak_capped", entry("capped", Date.now() + 25_000), g);
      // Used every 9 s: the TTL counts from the last use, so "busy" outlives it five times over.
      for (let second = 9; second <= 54; second += 9) {
        vi.setSystemTime(1_000_000 + second * 1000);
        expect(cache.get("ak_busy")?.subject, `at ${second} s`).toBe("busy");
        if (second < 27) expect(cache.get("ak_capped")?.subject, `at ${second} s`).toBe("capped");
        else expect(cache.get("ak_capped"), `at ${second} s`).toBeUndefined();
      }
      // Never used after it was stored: gone once the TTL passed.
      expect(cache.get("ak_idle")).toBeUndefined();
      // In use, but past its own expiry (the cap from its check): gone.
      vi.setSystemTime(1_000_000 + 60_000);
      expect(cache.get("ak_busy")).toBeUndefined();
    } finally {
      vi.useRealTimers();
    }
  });

  it("when switched off, serves and stores nothing, and starts empty when on again", () => {
    const cache = createVerificationCache({ ttlMs: 60_000, maxEntries: 10 });
    const g = cache.generation();
    cache.set("ak_a", entry("a"), g);
    cache.setEnabled(false);
    expect(cache.get("ak_a")).toBeUndefined();
    cache.set("ak_b", entry("b"), cache.generation());
    cache.setEnabled(true);
    expect(cache.get("ak_a")).toBeUndefined();
    expect(cache.get("ak_b")).toBeUndefined();
    // A miss that began while it was off must not fill it now.
    cache.set("ak_a", entry("a"), g);
    expect(cache.get("ak_a")).toBeUndefined();
  });
});

describe("token HMAC (the cache key)", () => {
  it("is HMAC-SHA256 as node:crypto computes it, for any input", () => {
    const key = Buffer.from(randomBytes(64).map((b) => b & 0x7f));
    const hmac = createTokenHmac(key);
    const inputs = ["", "ak_2kX9", "x".repeat(200), "héllo ✓ 🔑", "lone \ud800 surrogate", "ak_" + "Z".repeat(61)];
    for (const input of inputs) {
      expect(hmac(input), JSON.stringify(input)).toBe(createHmac("sha256", key).update(input).digest("binary"));
    }
  });

  it("differs between processes' keys, and refuses a key it cannot use as a string", () => {
    expect(createTokenHmac()("ak_same")).not.toBe(createTokenHmac()("ak_same"));
    expect(() => createTokenHmac(Buffer.alloc(64, 0x80))).toThrow(/below 0x80/);
    expect(() => createTokenHmac(Buffer.alloc(32))).toThrow(/64 bytes/);
  });
});

describe("argon2 pool", () => {
  const log = createLogger("error");
  const deferred = () => {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    return { promise, resolve };
  };

  it("runs one check at a time per key, and at most maxConcurrent in all", async () => {
    const pool = createArgon2Pool({ maxConcurrent: 2, maxQueued: 10, maxQueuedPerKey: 4, log });
    let running = 0;
    let peak = 0;
    const started: string[] = [];
    const gates = Array.from({ length: 4 }, deferred);
    const check = (name: string, gate: { promise: Promise<void> }) => async () => {
      started.push(name);
      peak = Math.max(peak, ++running);
      await gate.promise;
      running--;
      return name;
    };
    const results = [
      pool.run("k1", check("k1-a", gates[0]!)),
      pool.run("k1", check("k1-b", gates[1]!)),
      pool.run("k2", check("k2-a", gates[2]!)),
      pool.run("k3", check("k3-a", gates[3]!)),
    ];
    await new Promise((r) => setTimeout(r, 10));
    expect(started).toEqual(["k1-a", "k2-a"]);
    gates.forEach((g) => g.resolve());
    expect(await Promise.all(results)).toEqual(["k1-a", "k1-b", "k2-a", "k3-a"]);
    expect(peak).toBe(2);
  });

  it("refuses with BusyError when a key's queue or the whole queue is full", async () => {
    const pool = createArgon2Pool({ maxConcurrent: 1, maxQueued: 1, maxQueuedPerKey: 1, log });
    const gate = deferred();
    const slow = () => gate.promise.then(() => "ok");
    const first = pool.run("k1", slow);
    const second = pool.run("k1", slow);
    await expect(pool.run("k1", slow)).rejects.toBeInstanceOf(BusyError);
    const otherKey = pool.run("k2", slow);
    await new Promise((r) => setTimeout(r, 10));
    await expect(pool.run("k3", slow)).rejects.toBeInstanceOf(BusyError);
    gate.resolve();
    expect(await Promise.all([first, second, otherKey])).toEqual(["ok", "ok", "ok"]);
  });

  it("runs a priority check before every queued guess, even when the key's line is full", async () => {
    const pool = createArgon2Pool({ maxConcurrent: 1, maxQueued: 10, maxQueuedPerKey: 2, log });
    const gate = deferred();
    const order: string[] = [];
    const check = (name: string) => async () => {
      order.push(name);
      await gate.promise;
      return name;
    };
    const running = pool.run("k1", check("guess-1"));
    const queued = [pool.run("k1", check("guess-2")), pool.run("k1", check("guess-3"))];
    await expect(pool.run("k1", check("guess-4"))).rejects.toBeInstanceOf(BusyError);
    expect(() => pool.admit("k1")).toThrow(BusyError);
    const holder = pool.run("k1", check("holder"), true);
    gate.resolve();
    expect(await Promise.all([running, ...queued, holder])).toEqual(["guess-1", "guess-2", "guess-3", "holder"]);
    expect(order).toEqual(["guess-1", "holder", "guess-2", "guess-3"]);
  });

  it("warns once per key id per interval when different secrets pile up for it, and counts them", async () => {
    const lines: string[] = [];
    const pool = createArgon2Pool({ maxConcurrent: 1, maxQueued: 10, maxQueuedPerKey: 3, log: createLogger("warn", {}, (l) => void lines.push(l)), warnIntervalMs: 200 });
    const gate = deferred();
    const flood = (keyId: string, n: number) => Array.from({ length: n }, () => pool.run(keyId, () => gate.promise).catch(() => "busy"));
    const first = [...flood("k1", 6), ...flood("k2", 2)];
    const warned = () => lines.map((l) => JSON.parse(l) as { msg: string; keyId: string }).filter((l) => l.msg.startsWith("key under attack"));
    expect(warned().map((l) => l.keyId)).toEqual(["k1"]);
    // 3 found 3 others queued or running, 2 of them were refused.
    // One check runs; k1's line holds 3, k2's 1 and k2's other waits for the slot; none has started yet.
    expect(pool.stats()).toEqual({ running: 1, queued: 5, started: 0, refused: 2, contended: 3, warnings: 1 });
    gate.resolve();
    await Promise.all(first);
    const later = deferred();
    await new Promise((r) => setTimeout(r, 250));
    const second = Array.from({ length: 5 }, () => pool.run("k1", () => later.promise).catch(() => "busy"));
    expect(warned().map((l) => l.keyId)).toEqual(["k1", "k1"]);
    later.resolve();
    await Promise.all(second);
  });

  it("warns once per interval, and never of an attack, when the whole queue is full for many key ids", async () => {
    const lines: string[] = [];
    const pool = createArgon2Pool({ maxConcurrent: 1, maxQueued: 1, maxQueuedPerKey: 3, log: createLogger("warn", {}, (l) => void lines.push(l)) });
    const gate = deferred();
    const held = [pool.run("k1", () => gate.promise), pool.run("k2", () => gate.promise)];
    for (let i = 0; i < 2_000; i++) {
      const keyId = `fresh-${i}`;
      expect(() => pool.admit(keyId)).toThrow(BusyError);
      await expect(pool.run(keyId, () => gate.promise)).rejects.toBeInstanceOf(BusyError);
    }
    const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(msgs.filter((m) => m.startsWith("key under attack"))).toEqual([]);
    expect(msgs).toEqual(["argon2 pool full: refusing first verifications; if this lasts, raise APIKEYS_ARGON2_MAX_QUEUED or add replicas"]);
    expect(pool.stats()).toEqual({ running: 1, queued: 1, started: 1, refused: 4_000, contended: 0, warnings: 0 });
    gate.resolve();
    await Promise.all(held);
  });

  it("remembers the last warning of at most 10,000 key ids, forgetting the oldest first", async () => {
    const lines: string[] = [];
    const pool = createArgon2Pool({ maxConcurrent: 1, maxQueued: 20_000, maxQueuedPerKey: 0, log: createLogger("warn", {}, (l) => void lines.push(l)) });
    const gate = deferred();
    const refuseOnce = (keyId: string) => pool.run(keyId, () => gate.promise).catch(() => "busy");
    // Each id's line holds its one running or waiting check; a second check for it is refused and warned of.
    const held = Array.from({ length: 10_001 }, (_, i) => pool.run(`k${i}`, () => gate.promise));
    const attacked = () => lines.map((l) => JSON.parse(l) as { msg: string; keyId: string }).filter((l) => l.msg.startsWith("key under attack")).map((l) => l.keyId);
    for (let i = 0; i < 10_000; i++) expect(await refuseOnce(`k${i}`)).toBe("busy");
    expect(attacked()).toHaveLength(10_000);
    // Still remembered: no second warning within the interval.
    expect(await refuseOnce("k0")).toBe("busy");
    expect(attacked()).toHaveLength(10_000);
    // A 10,001st id makes room by forgetting k0, the oldest, which is then warned of again.
    expect(await refuseOnce("k10000")).toBe("busy");
    expect(await refuseOnce("k1")).toBe("busy");
    expect(await refuseOnce("k0")).toBe("busy");
    expect(attacked().slice(10_000)).toEqual(["k10000", "k0"]);
    gate.resolve();
    await Promise.all(held);
  });
});
