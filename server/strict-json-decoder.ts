// The text decoder of every JSON request body on the HTTP port (Connect JSON, gRPC+JSON and
// gRPC-Web+JSON all parse through connect's JSON serialization, which takes it as an option).
// Protobuf strings are Unicode; two kinds of JSON body cannot say one:
// - bytes that are not UTF-8: connect's default TextDecoder turns them into U+FFFD, so a key named
//   "bad \xff\xfe" was stored as "bad ��", while the same bytes in protobuf are refused;
// - an escape of an unpaired surrogate ("\ud800"): JSON.parse makes a string no UTF-8 can hold.
//   Postgres would have stored U+FFFD in its place, and a decode error quoting it (an unknown
//   field "\ud800", a bad enum name, a bad FieldMask path) made connect-es throw while writing a
//   gRPC status (encodeURIComponent), so the call was never answered.
// Both are refused here, before any of that: connect answers INVALID_ARGUMENT with our message.

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes a JSON body; throws (connect answers INVALID_ARGUMENT) for text that is not Unicode. */
export const strictJsonDecoder = {
  decode(bytes: Uint8Array): string {
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      throw new Error("the request body is not valid UTF-8; send JSON text encoded as UTF-8");
    }
    // Only a \u escape can make an unpaired surrogate, and most bodies have none: parsing twice
    // is for those that do.
    if (text.includes("\\u")) refuseUnpairedSurrogates(text);
    return text;
  },
};

function refuseUnpairedSurrogates(text: string): void {
  let unpaired = false;
  try {
    JSON.parse(text, (key, value: unknown) => {
      if (!key.isWellFormed() || (typeof value === "string" && !value.isWellFormed())) unpaired = true;
      return value;
    });
  } catch {
    return; // not JSON: the parser that follows says what is wrong with it
  }
  if (unpaired) throw new Error("the request body escapes an unpaired UTF-16 surrogate (such as \\ud800), which is not a Unicode character");
}
