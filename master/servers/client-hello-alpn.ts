/**
 * Reads which application protocols (ALPN) a TLS ClientHello offers, from the raw bytes a client sent,
 * before any TLS work. The master's front door uses it to route a connection by protocol: upsfleet agents
 * (which offer "upsfleet-agent") go to a TLS worker process, everyone else (browsers, the CLI) to the main
 * process. The bytes come from anyone on the network, so the parser checks every length against its
 * container and gives null for anything that is not a complete, well-formed ClientHello; it never throws.
 */

const HANDSHAKE_RECORD = 0x16;
const CLIENT_HELLO = 0x01;
const ALPN_EXTENSION = 0x0010;
/** The largest record length accepted (RFC 5246 6.2.3: 2^14 + 2048). */
const MAX_RECORD = 16384 + 2048;

/**
 * The ALPN protocol names a TLS ClientHello offers, read from the first bytes a client sent (one or more
 * TLS records). Returns null when the bytes are not a complete, well-formed ClientHello (too short, wrong
 * record/handshake type, any length field running past its container, a handshake message split over
 * records that are not all present); [] when it is complete and has no ALPN extension. Never throws, never
 * reads out of bounds.
 */
export function offeredAlpn(bytes: Buffer): string[] | null {
  // The handshake message may span several handshake records: gather their payloads until it is whole.
  const parts: Buffer[] = [];
  let have = 0;
  let need = Number.POSITIVE_INFINITY;
  let off = 0;
  while (have < need) {
    if (off + 5 > bytes.length || bytes[off] !== HANDSHAKE_RECORD) return null;
    const len = bytes.readUInt16BE(off + 3);
    if (len === 0 || len > MAX_RECORD) return null;
    const payload = bytes.subarray(off + 5, off + 5 + len); // shorter when the record is cut off
    parts.push(payload);
    have += payload.length;
    off += 5 + len;
    if (need === Number.POSITIVE_INFINITY && have >= 4) {
      const head = Buffer.concat(parts, 4);
      if (head[0] !== CLIENT_HELLO) return null;
      need = 4 + head.readUIntBE(1, 3);
    }
  }
  return helloAlpn(Buffer.concat(parts, need).subarray(4));
}

/** The ALPN names in a ClientHello body (after the handshake header), or null if it is malformed. */
function helloAlpn(body: Buffer): string[] | null {
  let p = 2 + 32; // legacy_version, random
  if (p + 1 > body.length || body[p]! > 32) return null;
  p += 1 + body[p]!; // session_id
  if (p + 2 > body.length) return null;
  const suites = body.readUInt16BE(p);
  if (suites === 0 || suites % 2 !== 0) return null;
  p += 2 + suites; // cipher_suites
  if (p + 1 > body.length || body[p] === 0) return null;
  p += 1 + body[p]!; // compression_methods
  if (p === body.length) return []; // no extensions at all
  if (p + 2 > body.length || p + 2 + body.readUInt16BE(p) !== body.length) return null;
  p += 2;
  let alpn: string[] | null = null;
  while (p < body.length) {
    if (p + 4 > body.length) return null;
    const type = body.readUInt16BE(p);
    const end = p + 4 + body.readUInt16BE(p + 2);
    if (end > body.length) return null;
    if (type === ALPN_EXTENSION) {
      if (alpn !== null) return null; // an extension may appear only once
      alpn = protocolNames(body.subarray(p + 4, end));
      if (alpn === null) return null;
    }
    p = end;
  }
  return alpn ?? [];
}

/** The names in an ALPN extension's data (RFC 7301 3.1), or null if it is malformed. */
function protocolNames(data: Buffer): string[] | null {
  if (data.length < 2 || data.readUInt16BE(0) !== data.length - 2 || data.length === 2) return null;
  const names: string[] = [];
  let p = 2;
  while (p < data.length) {
    const len = data[p]!;
    if (len === 0 || p + 1 + len > data.length) return null;
    names.push(data.toString('latin1', p + 1, p + 1 + len));
    p += 1 + len;
  }
  return names;
}
