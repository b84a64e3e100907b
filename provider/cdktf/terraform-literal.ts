// cdktf writes plain strings into the JSON as they are, and Terraform reads every JSON string as a
// template: a literal "${" or "%{" (a shell's "${HOME}", a name like "Cost %{x}") would be evaluated
// by Terraform. Our props are literal text, so escape them; tokens are left to cdktf.
import { Token } from "cdktf";

/** `value` with template sequences escaped (`$${`, `%%{`), unless it holds cdktf tokens. */
export function terraformLiteral(value: string): string {
  if (Token.isUnresolved(value)) return value;
  return value.replace(/\$\{/g, () => "$${").replace(/%\{/g, () => "%%{");
}
