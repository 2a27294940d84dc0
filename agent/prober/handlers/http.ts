// httpGet, as kubelet's http prober behaves:
// - a status from 200 to 399 is success;
// - redirects are followed while they stay on the same host (10 at most); a redirect to another
//   host is not followed, and the 3xx itself counts as success with a warning ("Probe
//   terminated redirects"), so a probe can never be turned against a third party;
// - HTTPS does not verify the certificate (a pod's certificate is rarely issued for its IP);
// - no keep-alive: every probe is a fresh connection, as a fresh client would see the pod;
// - User-Agent kube-probe/<version> and Accept */* unless the probe's httpHeaders say otherwise.
// The request goes over a bare socket (see http-wire.ts for why).
import net from 'node:net';
import { isIP } from '../../../lib/ip.js';
import tls from 'node:tls';
import {
  decodeBody,
  MAX_HEAD_BYTES,
  mergeHeaders,
  parseResponseHead,
  requestHead,
  type ResponseHead,
} from '../http-wire.js';
import type { HttpHeader } from '../../podspec/probe-spec.js';
import type { ProbeOutcome } from '../types.js';
import { dialError, MAX_READ_BYTES, onAbort, PROBE_USER_AGENT, truncate } from './common.js';
import { errorMessage } from '../../../lib/errors.js';

const MAX_REDIRECTS = 10;
const DEFAULT_HEADERS: HttpHeader[] = [
  { name: 'User-Agent', value: PROBE_USER_AGENT },
  { name: 'Accept', value: '*/*' },
];

export interface HttpProbeRequest {
  url: URL;
  headers: HttpHeader[];
  signal: AbortSignal;
}

export async function httpProbe(req: HttpProbeRequest): Promise<ProbeOutcome> {
  const headers = mergeHeaders(DEFAULT_HEADERS, req.headers);
  const first = req.url;
  let url = first;
  for (let hop = 0; ; hop++) {
    const res = await getOnce(url, headers, req.signal);
    if ('error' in res) return { result: 'failure', message: `Get "${url.href}": ${res.error}` };
    const { status, body } = res;
    const location = res.headers.get('location');
    if (status >= 300 && status < 400 && location !== undefined) {
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return {
          result: 'failure',
          message: `Get "${url.href}": invalid redirect location ${JSON.stringify(location)}`,
        };
      }
      if (next.hostname === first.hostname && (next.protocol === 'http:' || next.protocol === 'https:')) {
        if (hop + 1 >= MAX_REDIRECTS)
          return { result: 'failure', message: `Get "${next.href}": stopped after ${MAX_REDIRECTS} redirects` };
        url = next;
        continue;
      }
      return {
        result: 'success',
        message: `HTTP probe succeeded with statuscode: ${status}`,
        warning: `Probe terminated redirects (to ${next.host}, another host than ${first.host}), Response body: ${truncate(body)}`,
      };
    }
    if (status >= 200 && status < 400) {
      const r: ProbeOutcome = { result: 'success', message: `HTTP probe succeeded with statuscode: ${status}` };
      if (status >= 300) r.warning = `Probe terminated redirects, Response body: ${truncate(body)}`;
      return r;
    }
    return { result: 'failure', message: `HTTP probe failed with statuscode: ${status}` };
  }
}

type Response = { status: number; headers: ResponseHead['headers']; body: string } | { error: string };

function getOnce(url: URL, headers: [string, string][], signal: AbortSignal): Promise<Response> {
  return new Promise((resolve) => {
    const isHttps = url.protocol === 'https:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port ? Number(url.port) : isHttps ? 443 : 80;
    let head: string;
    try {
      head = requestHead(url, headers);
    } catch (e) {
      return resolve({ error: errorMessage(e) });
    }
    const socket = isHttps
      ? tls.connect({ host, port, rejectUnauthorized: false, servername: isIP(host) ? undefined : host })
      : net.connect({ host, port });
    let done = false;
    let off = () => {};
    let buf: Buffer = Buffer.alloc(0);
    let parsed: ResponseHead | undefined;
    const finish = (r: Response) => {
      if (done) return;
      done = true;
      off();
      socket.destroy();
      resolve(r);
    };
    const answer = () => {
      if (!parsed)
        return finish({
          error: buf.length
            ? 'EOF in the middle of the response head'
            : 'EOF: the server closed the connection without answering',
        });
      const body = decodeBody(
        parsed.headers,
        buf.subarray(parsed.bodyStart, parsed.bodyStart + MAX_READ_BYTES),
      ).toString('utf8');
      finish({ status: parsed.status, headers: parsed.headers, body });
    };
    off = onAbort(signal, () => finish({ error: 'context deadline exceeded (timeout)' }));
    // Written at once: the socket holds it until connected, which saves a callback per probe.
    socket.write(head);
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (!parsed) {
        const p = parseResponseHead(buf);
        if (p instanceof Error) return finish({ error: p.message });
        parsed = p;
      }
      // The status is all a probe needs; a little of the body is kept for messages. A status
      // that needs no body is answered at once rather than waiting for the server to close.
      if (parsed && (buf.length - parsed.bodyStart >= MAX_READ_BYTES || !(parsed.status >= 300 && parsed.status < 400)))
        answer();
      else if (buf.length > MAX_HEAD_BYTES + MAX_READ_BYTES) answer();
    });
    socket.once('end', answer);
    socket.on('error', (err) => finish({ error: dialError(host, port, err) }));
    socket.once('close', answer);
  });
}
