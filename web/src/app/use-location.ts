// The standalone app's router: three paths, history.pushState, and the back button.
import { useCallback, useEffect, useState } from "react";

/** The routes the server answers with index.html. */
export const ROUTES = { keys: "/settings/api-keys", signIn: "/sign-in", support: "/support/legacy-keys" } as const;

/** The current path and a function to go to another (replace: no new history entry). */
export function useLocationPath(): [string, (path: string, replace?: boolean) => void] {
  const [path, setPath] = useState(() => window.location.pathname);
  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const navigate = useCallback((to: string, replace = false) => {
    if (replace) window.history.replaceState(null, "", to);
    else window.history.pushState(null, "", to);
    setPath(new URL(to, window.location.href).pathname);
  }, []);
  return [path, navigate];
}
