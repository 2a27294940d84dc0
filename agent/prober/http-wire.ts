// The HTTP/1.1 a probe needs, written and read by hand over a plain socket: one GET with
// "Connection: close", and the response's status line and headers. Node's http client costs
// about twice the CPU per request (an Agent, a ClientRequest, a pooled parser), which matters
// at hundreds of probes a second, and a probe needs none of its features: no body to send, no
// keep-alive, no streaming. The grammar is RFC 9112's; only what a probe needs is kept.
import type { HttpHeader } from '../podspec/probe-spec.js';

/** Header values may not carry line breaks or NUL (they would inject headers or requests). */
const BAD_VALUE = /[\r\n\0]/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The request head for GET url, with the probe's headers (already merged with defaults). */
export function requestHead(url: URL, headers: [string, string][]): string {
  const target = `${url.pathname || '/'}${url.search}`;
  let hasHost = false;
  let out = `GET ${target} HTTP/1.1\r\n`;
  for (const [name, value] of headers) {
    if (!TOKEN.test(name)) throw new Error(`invalid HTTP header name ${JSON.stringify(name)}`);
    if (BAD_VALUE.test(value)) throw new Error(`invalid value for HTTP header ${name}: line breaks are not allowed`);
    const lower = name.toLowerCase();
    if (lower === 'connection' || lower === 'content-length' || lower === 'transfer-encoding') continue; // ours to decide
    if (lower === 'host') hasHost = true;
    out += `${name}: ${value}\r\n`;
  }
  // Go (kubelet) sends the URL's host:port unless the probe sets Host itself.
  if (!hasHost) out = out.replace('\r\n', `\r\nHost: ${url.host}\r\n`);
  return `${out}Connection: close\r\n\r\n`;
}

/** kubelet's defaults, then the probe's headers: a probe header replaces a default of the same name; repeated names are all sent. */
export function mergeHeaders(defaults: HttpHeader[], probe: HttpHeader[]): [string, string][] {
  const probeNames = new Set(probe.map((h) => h.name.toLowerCase()));
  return [
    ...defaults.filter((d) => !probeNames.has(d.name.toLowerCase())).map((d): [string, string] => [d.name, d.value]),
    ...probe.map((h): [string, string] => [h.name, h.value]),
  ];
}

export interface ResponseHead {
  status: number;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Map<string, string>;
  /** Offset of the first body byte. */
  bodyStart: number;
}

export const MAX_HEAD_BYTES = 64 * 1024;

/**
 * Parse the final response head at the start of buf: undefined while incomplete, an Error when
 * it is not HTTP. Interim 1xx responses (100 Continue, 103 Early Hints) are skipped, as clients do;
 * 101 Switching Protocols is final (and not a success for a probe).
 */
export function parseResponseHead(buf: Buffer): ResponseHead | undefined | Error {
  let offset = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', offset, 'latin1');
    if (end < 0)
      return buf.length - offset > MAX_HEAD_BYTES
        ? new Error(`response head larger than ${MAX_HEAD_BYTES} bytes`)
        : undefined;
    const lines = buf.toString('latin1', offset, end).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
    if (!m) return new Error(`malformed HTTP response: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    const status = Number(m[1]);
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon <= 0) return new Error(`malformed HTTP header line: ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      const prev = headers.get(name);
      headers.set(name, prev === undefined ? value : `${prev}, ${value}`);
    }
    if (status >= 100 && status < 200 && status !== 101) {
      offset = end + 4;
      continue;
    }
    return { status, headers, bodyStart: end + 4 };
  }
}

/** The body bytes as sent, with chunked transfer coding removed (best effort: for messages only). */
export function decodeBody(headers: Map<string, string>, raw: Buffer): Buffer {
  if (!/\bchunked\b/i.test(headers.get('transfer-encoding') ?? '')) return raw;
  const parts: Buffer[] = [];
  let i = 0;
  while (i < raw.length) {
    const eol = raw.indexOf('\r\n', i, 'latin1');
    if (eol < 0) break;
    const size = parseInt(raw.toString('latin1', i, eol).split(';')[0]!.trim(), 16);
    if (!Number.isFinite(size) || size <= 0) break;
    parts.push(raw.subarray(eol + 2, Math.min(raw.length, eol + 2 + size)));
    i = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
