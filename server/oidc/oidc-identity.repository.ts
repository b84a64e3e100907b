// Finding or creating the principal of a person signing in with OpenID Connect, and keeping its
// kind, workspace and role what the provider's claims say at every sign-in.
import { sql } from "kysely";
import type { Db } from "../db/database.js";
import { newId } from "../ids.js";
import { principalSubject, recordChange } from "../replica/change.repository.js";
import type { ClaimRefusal, MappedPrincipal } from "./oidc-claims.js";

/** The principal a person signs in as, and the change to await when their role or workspace changed. */
export interface LinkedPrincipal {
  readonly principalId: string;
  readonly change: string | undefined;
}

/**
 * Links (issuer, subject) to a principal shaped as `mapped`, creating it at the first sign-in and
 * updating it at later ones (a change evicts it from every replica's caches). Refuses a workspace
 * that does not exist.
 */
export async function linkOidcIdentity(
  db: Db,
  person: { issuer: string; subject: string; name: string; mapped: MappedPrincipal },
): Promise<LinkedPrincipal | ClaimRefusal> {
  const { mapped } = person;
  const workspaceId = mapped.kind === "member" ? mapped.workspaceId : null;
  const role = mapped.kind === "member" ? mapped.role : null;
  return db.transaction().execute(async (tx) => {
    if (workspaceId && !(await tx.selectFrom("workspaces").select("id").where("id", "=", workspaceId).executeTakeFirst())) {
      return { refused: "oidc_no_workspace", detail: `the claims name workspace "${workspaceId}", which does not exist here` } as const;
    }
    // Two first sign-ins of one person at once must make one principal, not two.
    await sql`select pg_advisory_xact_lock(hashtextextended(${`oidc\n${person.issuer}\n${person.subject}`}, 0))`.execute(tx);
    const linked = await tx
      .selectFrom("oidc_identities as i")
      .innerJoin("principals as p", "p.id", "i.principal_id")
      .select(["p.id", "p.kind", "p.workspace_id", "p.role", "p.name"])
      .where("i.issuer", "=", person.issuer)
      .where("i.subject", "=", person.subject)
      .executeTakeFirst();
    if (!linked) {
      const principalId = newId("pr");
      await tx.insertInto("principals").values({ id: principalId, kind: mapped.kind, workspace_id: workspaceId, role, name: person.name }).execute();
      await tx.insertInto("oidc_identities").values({ issuer: person.issuer, subject: person.subject, principal_id: principalId }).execute();
      return { principalId, change: undefined };
    }
    await tx
      .updateTable("oidc_identities")
      .set({ last_sign_in_at: new Date() })
      .where("issuer", "=", person.issuer)
      .where("subject", "=", person.subject)
      .execute();
    const same = linked.kind === mapped.kind && linked.workspace_id === workspaceId && linked.role === role && linked.name === person.name;
    if (same) return { principalId: linked.id, change: undefined };
    await tx.updateTable("principals").set({ kind: mapped.kind, workspace_id: workspaceId, role, name: person.name }).where("id", "=", linked.id).execute();
    // What replicas cache about the principal (kind, workspace, role, name) is stale now.
    return { principalId: linked.id, change: await recordChange(tx, [principalSubject(linked.id)]) };
  });
}
