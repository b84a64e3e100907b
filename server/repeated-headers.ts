// Node keeps only the first of some repeated request headers (authorization among them, on
// HTTP/1.1 and HTTP/2 alike); the raw header list still has every one.

/** Every value of header `name` (any case) in Node's raw header list, in the order sent. */
export function repeatedHeaderValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === name) values.push(rawHeaders[i + 1]!);
  }
  return values;
}
