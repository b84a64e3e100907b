// A store that hands the secret to any command line: a `terraform_data` resource whose `local-exec`
// provisioner receives the ephemeral token in its `environment` (Terraform accepts ephemeral values
// there, and keeps them out of state, plan and the provisioner's logged output). The token is
// never part of `command`, which Terraform stores and prints.
import type { Construct } from "constructs";
import { DataResource } from "cdktf";
import type { SecretStore, SecretStoreKey } from "../secret-store.js";
import { terraformLiteral } from "../terraform-literal.js";
import { requireText } from "../validation.js";

const ENVIRONMENT_VARIABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface CommandStoreProps {
  /**
   * The command that stores the secret, run by `interpreter` on the machine running Terraform, such
   * as `umask 077; cat > "$SECRETS_DIR/datadog.key"`. Taken literally: "${VAR}" reaches the shell,
   * not Terraform. It is re-run whenever the key's rotation version or id changes.
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
   * Interpreter and its arguments; the command is appended.
   * @default ["/bin/sh", "-c"]
   */
  readonly interpreter?: string[];
  /**
   * More environment variables for the command; not secret (they are stored in plain text).
   * @default - none
   */
  readonly environment?: Record<string, string>;
  /**
   * Construct id of the `terraform_data` resource under the ApiKey.
   * @default "Command"
   */
  readonly id?: string;
}

/** Runs a command that stores the key's secret, for stores without a Terraform provider. */
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
    this.environment = props.environment ?? {};
    if (this.variable in this.environment) {
      throw new Error(
        `${owner}: environment must not set ${this.variable}, which carries the secret; choose another environmentVariable.`,
      );
    }
    this.id = props.id ?? "Command";
  }

  bind(scope: Construct, key: SecretStoreKey): void {
    const command = terraformLiteral(this.command);
    new DataResource(scope, this.id, {
      // Re-run the command for a new secret: a new version, or a key replaced for any other reason.
      triggersReplace: { version: key.version, key_id: key.keyResource.id },
      dependsOn: [key.keyResource],
      // The new secret is stored before the old resource goes (it has no destroy-time command).
      lifecycle: { createBeforeDestroy: true },
      provisioners: [
        {
          type: "local-exec",
          // `printf` is a shell builtin, so the secret never appears in a process's arguments.
          command:
            this.via === "stdin"
              ? `printf '%s' "$${this.variable}" | (unset ${this.variable}; ${command}\n)`
              : command,
          interpreter: this.interpreter.map(terraformLiteral),
          environment: {
            ...Object.fromEntries(Object.entries(this.environment).map(([name, value]) => [name, terraformLiteral(value)])),
            [this.variable]: key.token,
          },
        },
      ],
    });
  }
}
