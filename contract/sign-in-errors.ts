// Why a browser sign-in was refused: the server redirects to `/sign-in?error=<code>` and the page
// shows the code's message. Only codes travel in the URL, so a crafted link cannot make the page
// show words of an attacker's choosing.

/** Every code the server may put in `/sign-in?error=`, with the message the page shows for it. */
export const SIGN_IN_ERRORS = {
  oidc_unavailable: "Your identity provider could not be reached. Try again in a moment; if it keeps failing, tell your administrator.",
  oidc_cancelled: "Sign-in was cancelled or refused at your identity provider. Start again, or ask your administrator for access.",
  oidc_expired: "This sign-in attempt expired or was started in another tab. Start again from the sign-in page.",
  oidc_failed: "Your identity provider's answer could not be verified, so you were not signed in. Start again from the sign-in page.",
  oidc_no_workspace: "Your identity provider account does not name a workspace of this server. Ask your administrator to set your workspace in the identity provider.",
  oidc_no_role: "Your identity provider account has no role here: it is in none of the groups that mean owner, admin or member. Ask your administrator to add you to one.",
} as const;

/** A code in `/sign-in?error=`. */
export type SignInErrorCode = keyof typeof SIGN_IN_ERRORS;

/** The message for an `error` query value; undefined for a value the server never sends. */
export function signInErrorMessage(code: string | null): string | undefined {
  return code !== null && Object.hasOwn(SIGN_IN_ERRORS, code) ? SIGN_IN_ERRORS[code as SignInErrorCode] : undefined;
}
