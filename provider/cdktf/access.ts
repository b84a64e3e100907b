// Access levels of an API key. The level is always explicit: an empty scope list never means "all".

/** The access levels, for code that prefers a name to a string literal: `Access.FULL`, `Access.CUSTOM`. */
export const Access = {
  /** Every scope in the catalog, including scopes added after the key was created. */
  FULL: "full",
  /** Exactly the listed scopes; scopes added to the catalog later are not included. */
  CUSTOM: "custom",
} as const;

/** `"full"` (every scope, now and later) or `"custom"` (exactly the listed scopes). */
export type Access = (typeof Access)[keyof typeof Access];
