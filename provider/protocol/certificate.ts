// The provider's certificate for go-plugin's automatic mutual TLS, built with node:crypto alone:
// an X.509 library costs about 100 ms of start-up, and Terraform starts the provider several
// times per command; this takes about a millisecond.
//
// Mirrors what go-plugin's own generateCert (mtls.go) produces, because Terraform treats our
// certificate the same way: it parses the DER we print in the handshake line, makes it the only
// root CA, and dials with ServerName "localhost". Hence a self-signed CA certificate with
// subject = issuer CN=localhost, SAN DNS:localhost, key usages including certSign, and extended
// key usages serverAuth and clientAuth. go-plugin uses P-521; P-256 is faster and equally accepted.

import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import {
  boolean,
  explicit,
  implicit,
  namedBits,
  octetString,
  oid,
  printableString,
  sequence,
  set,
  bitString,
  smallInteger,
  unsignedInteger,
  x509Time,
} from "./der.js";

export interface PluginCertificate {
  /** The certificate, PEM ("CERTIFICATE"). */
  readonly certPem: string;
  /** Its private key, PEM (PKCS#8 "PRIVATE KEY"). */
  readonly keyPem: string;
  /** The certificate, DER: what the handshake line carries. */
  readonly certDer: Buffer;
}

const OID = {
  commonName: "2.5.4.3",
  organizationName: "2.5.4.10",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
} as const;

/** KeyUsage bit numbers (RFC 5280 §4.2.1.3). */
const KEY_USAGE = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyAgreement: 4,
  keyCertSign: 5,
} as const;

const HOST = "localhost";
const ORGANIZATION = "apikeys terraform provider";
/** Backdated a little against clock skew between Terraform and us, as go-plugin does. */
const NOT_BEFORE_SKEW_MS = 30_000;
/** go-plugin uses 30 years; a provider process lives minutes, so 30 days is plenty. */
const LIFETIME_MS = 30 * 24 * 60 * 60 * 1000;

/** A fresh ECDSA P-256 key and a self-signed X.509 v3 CA certificate for localhost. */
export function createPluginCertificate(now: Date = new Date()): PluginCertificate {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  // SubjectPublicKeyInfo exactly as the certificate needs it: SEQUENCE { algorithm, BIT STRING }.
  const spki = publicKey.export({ type: "spki", format: "der" });

  // Random positive 128-bit serial number: top bit cleared (positive), next bit set (so it is
  // always exactly 16 octets; RFC 5280 allows up to 20).
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;

  const signatureAlgorithm = sequence(oid(OID.ecdsaWithSha256)); // parameters absent (RFC 5758)
  const name = sequence(
    set(sequence(oid(OID.organizationName), printableString(ORGANIZATION))),
    set(sequence(oid(OID.commonName), printableString(HOST))),
  );
  const notBefore = new Date(now.getTime() - NOT_BEFORE_SKEW_MS);
  const notAfter = new Date(now.getTime() + LIFETIME_MS);

  const tbsCertificate = sequence(
    explicit(0, smallInteger(2)), // version v3
    unsignedInteger(serial),
    signatureAlgorithm,
    name, // issuer
    sequence(x509Time(notBefore), x509Time(notAfter)),
    name, // subject: the same bytes, which is what makes it self-issued
    spki,
    explicit(3, sequence(...extensions(spki))),
  );

  // ECDSA over SHA-256; node returns the DER Ecdsa-Sig-Value for EC keys by default.
  const signature = sign("sha256", tbsCertificate, { key: privateKey, dsaEncoding: "der" });
  const certDer = sequence(tbsCertificate, signatureAlgorithm, bitString(signature));

  return {
    certPem: toPem("CERTIFICATE", certDer),
    keyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    certDer,
  };
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. */
function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? sequence(oid(id), boolean(true), octetString(value))
    : sequence(oid(id), octetString(value)); // DER omits a DEFAULT value
}

function extensions(spki: Buffer): Buffer[] {
  // The subjectPublicKey BIT STRING of a P-256 SPKI is its last 65 octets (04 || X || Y), after
  // the 00 unused-bits octet. Key identifier method 1 of RFC 5280 §4.2.1.2: SHA-1 of those octets.
  const point = spki.subarray(spki.length - 65);
  if (spki.length !== 91 || point[0] !== 0x04) throw new Error("unexpected P-256 SPKI layout");
  return [
    extension(
      OID.keyUsage,
      true,
      namedBits([
        KEY_USAGE.digitalSignature,
        KEY_USAGE.keyEncipherment,
        KEY_USAGE.keyAgreement,
        KEY_USAGE.keyCertSign,
      ]),
    ),
    extension(OID.extKeyUsage, false, sequence(oid(OID.clientAuth), oid(OID.serverAuth))),
    // cA TRUE, no path length constraint.
    extension(OID.basicConstraints, true, sequence(boolean(true))),
    extension(OID.subjectKeyIdentifier, false, octetString(createHash("sha1").update(point).digest())),
    // GeneralName: [2] dNSName IA5String, [7] iPAddress OCTET STRING (both IMPLICIT).
    extension(
      OID.subjectAltName,
      false,
      sequence(implicit(2, Buffer.from(HOST, "ascii")), implicit(7, Buffer.from([127, 0, 0, 1]))),
    ),
  ];
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}
