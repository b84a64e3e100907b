// Where "Go to sign-in" leads: the standalone app's sign-in page, or the host's own (ApiKeysPage's
// `onSignedOut`). A context, so that an ended session offers the way out from every error notice,
// in the table, a dialog or the activity list alike, without each component passing it down.
import { createContext } from "react";

/** Takes the person to sign in again; undefined where nobody said how. */
export const SignInAction = createContext<(() => void) | undefined>(undefined);
