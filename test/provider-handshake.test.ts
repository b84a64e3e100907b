// The go-plugin handshake and its automatic mutual TLS: the certificate we build with node:crypto,
// the handshake line, the environment checks, and a real mutual-TLS gRPC round trip.

import { X509Certificate, createPrivateKey } from "node:crypto";
import {
  Client,
  Server,
  credentials,
  status,
  type ChannelCredentials,
  type ServiceError,
} from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPluginCertificate } from "../provider/protocol/certificate.js";
import { namedBits, octetString, oid, unsignedInteger } from "../provider/protocol/der.js";
import {
  MAGIC_COOKIE_KEY,
  MAGIC_COOKIE_VALUE,
  NotLaunchedByTerraformError,
  handshakeLine,
  readPluginEnvironment,
  serverCredentials,
} from "../provider/protocol/handshake.js";

describe("DER helpers", () => {
  it("encode known values", () => {
    expect(oid("1.2.840.10045.4.3.2").toString("hex")).toBe("06082a8648ce3d040302");
    expect(unsignedInteger(Buffer.from([0x80])).toString("hex")).toBe("02020080");
    expect(unsignedInteger(Buffer.from([0, 0, 1])).toString("hex")).toBe("020101");
    // KeyUsage digitalSignature | keyEncipherment | keyCertSign, trailing zero bits dropped.
    expect(namedBits([0, 2, 5]).toString("hex")).toBe("030202a4");
    expect(octetString(Buffer.alloc(200)).subarray(0, 3).toString("hex")).toBe("0481c8");
    expect(octetString(Buffer.alloc(300)).subarray(0, 4).toString("hex")).toBe("0482012c");
  });
});

describe("plugin certificate", () => {
  const cert = createPluginCertificate();
  const x509 = new X509Certificate(cert.certDer);

  it("parses, is self-signed and verifies with its own key", () => {
    expect(x509.subject).toBe(x509.issuer);
    expect(x509.subject).toContain("CN=localhost");
    expect(x509.checkIssued(x509)).toBe(true);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(new X509Certificate(cert.certPem).fingerprint256).toBe(x509.fingerprint256);
  });

  it("belongs to the returned private key", () => {
    expect(x509.checkPrivateKey(createPrivateKey(cert.keyPem))).toBe(true);
    expect(x509.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
  });

  it("names localhost, is valid now and is a CA for server and client auth", () => {
    expect(x509.checkHost("localhost")).toBe("localhost");
    expect(x509.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(x509.subjectAltName).toContain("DNS:localhost");
    const now = Date.now();
    expect(Date.parse(x509.validFrom)).toBeLessThanOrEqual(now - 29_000);
    expect(Date.parse(x509.validTo)).toBeGreaterThan(now + 29 * 24 * 3600 * 1000);
    expect(x509.ca).toBe(true);
    expect(x509.keyUsage).toEqual(
      expect.arrayContaining(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]),
    );
  });

  it("has a random positive 16-byte serial number", () => {
    expect(x509.serialNumber).toMatch(/^[4-7][0-9A-F]{31}$/);
    expect(new X509Certificate(createPluginCertificate().certDer).serialNumber).not.toBe(
      x509.serialNumber,
    );
  });

  it("is quick to generate (printed, not asserted)", () => {
    const runs = 20;
    const start = performance.now();
    for (let i = 0; i < runs; i++) createPluginCertificate();
    const average = (performance.now() - start) / runs;
    console.log(`createPluginCertificate: ${average.toFixed(2)} ms on average over ${runs} runs`);
  });
});

describe("handshake line", () => {
  it("is 1|6|tcp|127.0.0.1:PORT|grpc|<unpadded base64 DER>", () => {
    // A DER length that is not a multiple of 3 would need '=' padding in standard base64.
    let cert = createPluginCertificate();
    while (cert.certDer.length % 3 === 0) cert = createPluginCertificate();

    const line = handshakeLine(43123, cert.certDer);
    expect(line.endsWith("\n")).toBe(true);
    expect(line.slice(0, -1)).not.toContain("\n");
    const fields = line.trimEnd().split("|");
    expect(fields.slice(0, 5)).toEqual(["1", "6", "tcp", "127.0.0.1:43123", "grpc"]);
    const encoded = fields[5] ?? "";
    expect(encoded).not.toContain("=");
    expect(encoded).toMatch(/^[A-Za-z0-9+/]+$/);
    expect(Buffer.from(encoded, "base64").equals(cert.certDer)).toBe(true);
  });
});

describe("plugin environment", () => {
  const clientCertPem = createPluginCertificate().certPem;
  const terraform = { [MAGIC_COOKIE_KEY]: MAGIC_COOKIE_VALUE, PLUGIN_CLIENT_CERT: clientCertPem };

  it("accepts what Terraform sets", () => {
    expect(
      readPluginEnvironment({
        ...terraform,
        PLUGIN_PROTOCOL_VERSIONS: "5,6",
        PLUGIN_MIN_PORT: "10000",
        PLUGIN_MAX_PORT: "25000",
      }),
    ).toEqual({ clientCertPem, protocolVersions: [5, 6], minPort: 10000, maxPort: 25000 });
    expect(readPluginEnvironment(terraform)).toEqual({ clientCertPem, protocolVersions: [] });
  });

  it("tells a human how to run the provider when the cookie is missing or wrong", () => {
    for (const env of [
      { PLUGIN_CLIENT_CERT: clientCertPem },
      { ...terraform, [MAGIC_COOKIE_KEY]: "not-the-cookie" },
    ]) {
      expect(() => readPluginEnvironment(env)).toThrow(NotLaunchedByTerraformError);
      expect(() => readPluginEnvironment(env)).toThrow(/plugin.*dev_overrides.*filesystem_mirror/s);
    }
  });

  it("requires automatic mutual TLS", () => {
    for (const cert of [undefined, "", "garbage"]) {
      const env = { ...terraform, PLUGIN_CLIENT_CERT: cert };
      expect(() => readPluginEnvironment(env)).toThrow(NotLaunchedByTerraformError);
      expect(() => readPluginEnvironment(env)).toThrow(/PLUGIN_CLIENT_CERT.*mutual TLS/s);
    }
  });

  it("refuses a Terraform that does not offer protocol 6", () => {
    const env = { ...terraform, PLUGIN_PROTOCOL_VERSIONS: "4,5" };
    expect(() => readPluginEnvironment(env)).toThrow(NotLaunchedByTerraformError);
    expect(() => readPluginEnvironment(env)).toThrow(/protocol 6.*4,5/s);
  });
});

describe("mutual TLS gRPC", () => {
  const serverCert = createPluginCertificate();
  const terraformCert = createPluginCertificate(); // plays PLUGIN_CLIENT_CERT
  const strangerCert = createPluginCertificate();
  const server = new Server();
  let port = 0;
  const clients: Client[] = [];

  const identity = (b: Buffer) => b;
  const path = "/t.T/Ping";

  beforeAll(async () => {
    server.addService(
      {
        ping: {
          path,
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      },
      {
        ping: (call: { request: Buffer }, callback: (error: null, response: Buffer) => void) =>
          callback(null, call.request),
      },
    );
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        "127.0.0.1:0",
        serverCredentials(serverCert, terraformCert.certPem),
        (error, boundPort) => (error ? reject(error) : resolve(boundPort)),
      ),
    );
  });

  afterAll(() => {
    for (const client of clients) client.close();
    server.forceShutdown();
  });

  /** Dials 127.0.0.1 and checks the certificate against "localhost", as Terraform does. */
  function ping(creds: ChannelCredentials): Promise<Buffer> {
    const client = new Client(`127.0.0.1:${port}`, creds, {
      "grpc.ssl_target_name_override": "localhost",
    });
    clients.push(client);
    return new Promise((resolve, reject) =>
      client.makeUnaryRequest(
        path,
        identity,
        identity,
        Buffer.from("hello"),
        { deadline: Date.now() + 10_000 },
        (error, response) => (error || !response ? reject(error) : resolve(response)),
      ),
    );
  }

  it("serves Terraform's client certificate", async () => {
    const creds = credentials.createSsl(
      Buffer.from(serverCert.certPem),
      Buffer.from(terraformCert.keyPem),
      Buffer.from(terraformCert.certPem),
    );
    expect((await ping(creds)).toString()).toBe("hello");
  });

  it("refuses a client without a certificate", async () => {
    const error = await ping(credentials.createSsl(Buffer.from(serverCert.certPem))).catch(
      (e: ServiceError) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as ServiceError).code).toBe(status.UNAVAILABLE);
  });

  it("refuses a client with another certificate", async () => {
    const creds = credentials.createSsl(
      Buffer.from(serverCert.certPem),
      Buffer.from(strangerCert.keyPem),
      Buffer.from(strangerCert.certPem),
    );
    const error = await ping(creds).catch((e: ServiceError) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as ServiceError).code).toBe(status.UNAVAILABLE);
  });

  it("is refused by a client that trusts another certificate", async () => {
    const creds = credentials.createSsl(
      Buffer.from(strangerCert.certPem),
      Buffer.from(terraformCert.keyPem),
      Buffer.from(terraformCert.certPem),
    );
    const error = await ping(creds).catch((e: ServiceError) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as ServiceError).code).toBe(status.UNAVAILABLE);
  });
});
