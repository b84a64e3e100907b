// Tooltips render in a portal; it must stay inside the page's root element so that the host's
// CSS variables and class names (set on the root) style them too.
import { createContext, useContext } from "react";

/** The page's root element, or null before it mounts. */
export const PortalContainerContext = createContext<HTMLElement | null>(null);

/** The element portals render into (undefined lets Radix pick document.body). */
export function usePortalContainer(): HTMLElement | undefined {
  return useContext(PortalContainerContext) ?? undefined;
}
