// A minimal zip reader for tests: enough to look inside Terraform's saved plan files, which are
// zips written by Go's archive/zip. That writer streams entries with data descriptors, so the
// sizes in each local header may be 0; the central directory at the end holds the real ones.
// So: find the end-of-central-directory record, walk the central directory for each entry's name,
// method, compressed size and local header offset, then skip that entry's local header and read
// its data. No zip64, no encryption, no multi-disk archives (a plan file needs none of them).
import { readFile } from "node:fs/promises";
import { inflateRawSync } from "node:zlib";

const EOCD_SIGNATURE = 0x06054b50; // "PK\x05\x06"
const CENTRAL_SIGNATURE = 0x02014b50; // "PK\x01\x02"
const LOCAL_SIGNATURE = 0x04034b50; // "PK\x03\x04"
const EOCD_SIZE = 22; // fixed part; a comment of up to 65535 bytes may follow
const CENTRAL_SIZE = 46; // fixed part; name, extra field and comment follow
const LOCAL_SIZE = 30; // fixed part; name and extra field follow

/** Every entry of the zip file `file`, by name, decompressed. Throws on what it cannot read. */
export async function readZipEntries(file: string): Promise<Map<string, Buffer>> {
  return parseZip(await readFile(file));
}

/** Every entry of the zip archive in `zip`, by name, decompressed. */
export function parseZip(zip: Buffer): Map<string, Buffer> {
  // The EOCD record is the last thing in the file, possibly followed by its comment: search
  // backwards for its signature.
  let eocd = -1;
  for (let i = zip.length - EOCD_SIZE; i >= Math.max(0, zip.length - EOCD_SIZE - 0xffff); i--) {
    if (zip.readUInt32LE(i) === EOCD_SIGNATURE) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip file: no end of central directory record");
  const count = zip.readUInt16LE(eocd + 10); // total entries in the central directory
  let at = zip.readUInt32LE(eocd + 16); // offset of the central directory
  if (count === 0xffff || at === 0xffffffff) throw new Error("zip64 archives are not supported");

  const entries = new Map<string, Buffer>();
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== CENTRAL_SIGNATURE) throw new Error(`bad central directory entry ${n}`);
    const flags = zip.readUInt16LE(at + 8);
    const method = zip.readUInt16LE(at + 10);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localOffset = zip.readUInt32LE(at + 42);
    // Bit 11: the name is UTF-8; otherwise CP437, which matches UTF-8 for ASCII names.
    const name = zip.toString(flags & 0x800 ? "utf8" : "latin1", at + CENTRAL_SIZE, at + CENTRAL_SIZE + nameLength);
    at += CENTRAL_SIZE + nameLength + extraLength + commentLength;

    if (flags & 0x1) throw new Error(`${name}: encrypted entries are not supported`);
    if (zip.readUInt32LE(localOffset) !== LOCAL_SIGNATURE) throw new Error(`${name}: bad local header`);
    // The local header's name and extra lengths may differ from the central directory's.
    const dataStart =
      localOffset + LOCAL_SIZE + zip.readUInt16LE(localOffset + 26) + zip.readUInt16LE(localOffset + 28);
    const data = zip.subarray(dataStart, dataStart + compressedSize);
    let content: Buffer;
    if (method === 8) content = inflateRawSync(data);
    else if (method === 0) content = Buffer.from(data);
    else throw new Error(`${name}: compression method ${method} is not supported`);
    if (content.length !== size) throw new Error(`${name}: ${content.length} bytes, the directory says ${size}`);
    entries.set(name, content);
  }
  return entries;
}
