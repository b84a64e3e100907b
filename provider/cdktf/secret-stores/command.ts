// A store that hands the secret to any command line: a `terraform_data` resource whose `local-exec`
// provisioner receives the ephemeral token in its `environment` (Terraform accepts ephemeral values
// there, and keeps them out of state, plan and the provisioner's logged output). The token is
// never part of `command`, which Terraform stores and prints.
//
// The key material is the key's secret only in the run that creates the key. In any other run (a
// retry after the command failed, a store added to an existing key) the token is freshly minted
// and no key has it, so the generated shell compares the token's id part with the key's id
// (APIKEYS_KEY_ID, an ordinary value) and refuses before the command runs.
import type { Construct } from "constructs";
import { DataResource } from "cdktf";
import { ID_LENGTH } from "../../../contract/key-format.js";
import type { SecretStore, SecretStoreKey } from "../secret-store.js";
import { terraformLiteral } from "../terraform-literal.js";
import { requireText } from "../validation.js";

const ENVIRONMENT_VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The variable that gives the command the key's id (public), for the guard and the command. */
const KEY_ID_VARIABLE = "APIKEYS_KEY_ID";

export interface CommandStoreProps {
  /**
   * The command that stores the secret, run by `interpreter` on the machine running Terraform, such
   * as `umask 077; cat > "$SECRETS_DIR/datadog.key"`. Taken literally: "${VAR}" reaches the shell,
   * not Terraform. It is re-run whenever the key gets a new secret (the key's id or
   * `secret_version` changes), and sees the key's id in APIKEYS_KEY_ID.
   */
  readonly command: string;
  /**
   * How the command receives the secret: `"stdin"` pipes it in (`printf '%s' "$VAR" | (command)`,
   * with the variable unset for the command; needs a POSIX shell interpreter), `"environment"`
   * leaves it in the environment variable.
   * @default "stdin"
   */
  readonly via?: "stdin" | "environment";
  /**
   * The environment variable that carries the secret.
   * @default "APIKEYS_SECRET"
   */
  readonly environmentVariable?: string;
  /**
   * Interpreter and its arguments; the command is appended. It must be a POSIX shell (sh, dash,
   * bash, ...): the command starts with the shell code that checks the key material.
   * @default ["/bin/sh", "-c"]
   */
  readonly interpreter?: string[];
  /**
   * More environment variables for the command; not secret (they are stored in plain text). Must
   * not set APIKEYS_KEY_ID, which carries the key's id.
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * Construct id of the `terraform_data` resource under the ApiKey.
   * @default "Command"
   */
  readonly id?: string;
}

/**
 * Runs a command that stores the key's secret, for stores without a Terraform provider.
 *
 * Guard: the command runs only in the apply that gives the key its secret (creation, re-creation,
 * rotation). When the store is written in any other run (a retry after the command failed, or the
 * store was added to an existing key) the key material Terraform hands out is not the key's secret;
 * the generated shell sees that the token's id part (the 12 characters after `<prefix>_`) differs
 * from the key's id (given to the command as APIKEYS_KEY_ID), and fails before running the command,
 * saying on stderr: "this run's key material is not the key's secret (the key was created in an
 * earlier run), so it was not stored; bump rotationVersion to rotate the key and rewrite every
 * store". Fix what made the command fail, then bump `rotationVersion`.
 */
export class CommandStore implements SecretStore {
  readonly id: string;
  private readonly command: string;
  private readonly via: "stdin" | "environment";
  private readonly variable: string;
  private readonly interpreter: string[];
  private readonly environment: Record<string, string>;

  constructor(props: CommandStoreProps) {
    const owner = "CommandStore";
    this.command = requireText(owner, "command", props.command, 'umask 077; cat > "$SECRETS_DIR/datadog.key"');
    this.via = props.via ?? "stdin";
    if (this.via !== "stdin" && this.via !== "environment") {
      throw new Error(`${owner}: via must be "stdin" or "environment"; got ${JSON.stringify(this.via)}.`);
    }
    this.variable = props.environmentVariable ?? "APIKEYS_SECRET";
    if (!ENVIRONMENT_VARIABLE.test(this.variable)) {
      throw new Error(
        `${owner}: environmentVariable must be letters, digits and "_", not starting with a digit, such as "APIKEYS_SECRET"; ` +
          `got ${JSON.stringify(this.variable)}.`,
      );
    }
    this.interpreter = props.interpreter ?? ["/bin/sh", "-c"];
    if (this.interpreter.length === 0) {
      throw new Error(`${owner}: interpreter must name a program, such as ["/bin/sh", "-c"], or be left out.`);
    }
    if (this.variable === KEY_ID_VARIABLE) {
      throw new Error(`${owner}: environmentVariable must not be ${KEY_ID_VARIABLE}, which carries the key's id; choose another name, such as "APIKEYS_SECRET".`);
    }
    this.environment = props.environment ?? {};
    if (this.variable in this.environment) {
      throw new Error(
        `${owner}: environment must not set ${this.variable}, which carries the secret; choose another environmentVariable.`,
      );
    }
    if (KEY_ID_VARIABLE in this.environment) {
      throw new Error(`${owner}: environment must not set ${KEY_ID_VARIABLE}, which carries the key's id; choose another name.`);
    }
    this.id = props.id ?? "Command";
  }

  bind(scope: Construct, key: SecretStoreKey): void {
    const command =
      this.via === "stdin"
        ? // `printf` is a shell builtin, so the secret never appears in a process's arguments.
          `printf '%s' "$${this.variable}" | (unset ${this.variable}; ${this.command}\n)`
        : this.command;
    new DataResource(scope, this.id, {
      // Re-run the command whenever the key gets a new secret: a new key (new id), or a new
      // `secret_version` (rotation, re-creation after the key was deleted outside Terraform).
      triggersReplace: { key_id: key.keyResource.id, secret_version: key.version },
      dependsOn: [key.keyResource],
      // The new secret is stored before the old resource goes (it has no destroy-time command).
      lifecycle: { createBeforeDestroy: true },
      provisioners: [
        {
          type: "local-exec",
          command: terraformLiteral(`${this.guard(`${scope.node.path}/${this.id}`)}${command}`),
          interpreter: this.interpreter.map(terraformLiteral),
          environment: {
            ...Object.fromEntries(Object.entries(this.environment).map(([name, value]) => [name, terraformLiteral(value)])),
            [KEY_ID_VARIABLE]: key.keyResource.id,
            [this.variable]: key.token,
          },
        },
      ],
    });
  }

  /**
   * POSIX shell (dash included) that exits 1 unless the token's id part equals the key's id. Only
   * builtins and parameter expansions: the token never reaches a process's arguments.
   */
  private guard(path: string): string {
    const message =
      `CommandStore "${path}": this run's key material is not the key's secret (the key was created in an earlier run), ` +
      "so it was not stored; bump rotationVersion to rotate the key and rewrite every store.";
    // Double-quoted for the shell: only \, $, ` and " need a backslash.
    const quoted = `"${message.replace(/[\\$`"]/g, "\\$&")}"`;
    const any = "?".repeat(ID_LENGTH);
    return [
      `# Store only the key's own secret: its id is the ${ID_LENGTH} characters after "<prefix>_".`,
      `apikeys_token_id=\${${this.variable}#*_}; apikeys_token_id=\${apikeys_token_id%"\${apikeys_token_id#${any}}"}`,
      `if [ -z "$${KEY_ID_VARIABLE}" ] || [ "$apikeys_token_id" != "$${KEY_ID_VARIABLE}" ]; then`,
      `  printf '%s\\n' ${quoted} >&2`,
      "  exit 1",
      "fi",
      "unset apikeys_token_id",
      "",
    ].join("\n");
  }
}
