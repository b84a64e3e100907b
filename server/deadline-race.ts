// Waiting for something, but no longer than a deadline: the shutdown's drain and the replicas'
// confirmation both give up on work that takes too long without cancelling it.

/** Resolves with `work`'s value, or undefined when `ms` pass first (a later failure of `work` is then ignored). */
export async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, Math.max(0, ms), undefined)));
  work.catch(() => {});
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
