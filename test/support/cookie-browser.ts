// What a browser does with cookies and redirects, for HTTP-level sign-in tests: one jar per host
// (like a browser, ports do not separate cookies), Path and Max-Age honoured, redirects followed
// one at a time so a test can stop at, look at, or change any hop.

export interface CookieBrowser {
  /** One request, no redirect followed; Set-Cookie headers go to the jar. */
  get(url: string): Promise<Response>;
  /** Follows redirects from `url` until one points to a URL `stop` accepts, and returns that URL unvisited. */
  followUntil(url: string, stop: (url: string) => boolean): Promise<string>;
  /** The Cookie header this browser would send to `url`. */
  cookieHeader(url: string): string;
  /** A cookie's value for `url`, if the jar holds one. */
  cookie(url: string, name: string): string | undefined;
  /** Stores a cookie, as a script on another site or a stolen copy would. */
  setCookie(url: string, name: string, value: string, path?: string): void;
}

interface StoredCookie {
  readonly value: string;
  readonly path: string;
  readonly expires: number;
}

/** A new browser with an empty jar. */
export function createCookieBrowser(): CookieBrowser {
  const jar = new Map<string, Map<string, StoredCookie>>(); // host → name → cookie
  const sendable = (url: URL) =>
    [...(jar.get(url.hostname) ?? new Map<string, StoredCookie>())].filter(
      ([, c]) => c.expires > Date.now() && (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`)),
    );
  const store = (url: URL, setCookie: string) => {
    const [pair = "", ...attributes] = setCookie.split(";");
    const eq = pair.indexOf("=");
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    let path = url.pathname.replace(/\/[^/]*$/, "") || "/";
    let expires = Infinity;
    for (const attribute of attributes) {
      const [key = "", val = ""] = attribute.split("=").map((s) => s.trim());
      if (key.toLowerCase() === "path") path = val;
      if (key.toLowerCase() === "max-age") expires = Date.now() + Number(val) * 1000;
    }
    const cookies = jar.get(url.hostname) ?? new Map<string, StoredCookie>();
    jar.set(url.hostname, cookies);
    if (expires <= Date.now()) cookies.delete(name);
    else cookies.set(name, { value, path, expires });
  };
  const browser: CookieBrowser = {
    async get(url) {
      const target = new URL(url);
      const res = await fetch(target, { redirect: "manual", headers: { cookie: browser.cookieHeader(url) } });
      for (const setCookie of res.headers.getSetCookie()) store(target, setCookie);
      return res;
    },
    async followUntil(url, stop) {
      let current = url;
      for (let hop = 0; hop < 20; hop++) {
        const res = await browser.get(current);
        const location = res.headers.get("location");
        await res.body?.cancel();
        if (res.status < 300 || res.status >= 400 || !location) {
          throw new Error(`${new URL(current).pathname} answered ${res.status} without a redirect to follow`);
        }
        current = new URL(location, current).href;
        if (stop(current)) return current;
      }
      throw new Error("more than 20 redirects");
    },
    cookieHeader: (url) => sendable(new URL(url)).map(([name, c]) => `${name}=${c.value}`).join("; "),
    cookie: (url, name) => sendable(new URL(url)).find(([n]) => n === name)?.[1].value,
    setCookie: (url, name, value, path = "/") => store(new URL(url), `${name}=${value}; Path=${path}`),
  };
  return browser;
}
