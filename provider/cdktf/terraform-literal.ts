// cdktf writes plain strings into the JSON as they are, and Terraform reads every JSON string as a
// template: a literal "${" or "%{" (a shell's "${HOME}", a name like "Cost %{x}") would be evaluated
// by Terraform. Our props are literal text, so escape them; tokens are left to cdktf.
//
// A token inside a string is encoded as "${TfToken[...]}", which cdktf later replaces by its
// expression (such as "${azurerm_key_vault.example.id}"): those markers are left alone, so a token
// passes through unchanged and only the literal text around a token is escaped.

// "${" that does not open one of cdktf's string token markers.
const TEMPLATE_INTERPOLATION = /\$\{(?!TfToken\[)/g;
const TEMPLATE_DIRECTIVE = /%\{/g;

/** `value` with template sequences of its literal text escaped (`$${`, `%%{`); cdktf tokens in it stay references. */
export function terraformLiteral(value: string): string {
  return value.replace(TEMPLATE_INTERPOLATION, () => "$${").replace(TEMPLATE_DIRECTIVE, () => "%%{");
}
