// Which endpoint a new connection goes to (pure; upstream: pkg/proxy/userspace/roundrobin.go,
// learned from, not copied). Round-robin over the usable endpoints; with sessionAffinity
// ClientIP a client goes back to the endpoint it last reached until it has been idle for the
// timeout. The picker returns every endpoint in the order to try: when a connect fails, the
// proxy tries the next one, which is what makes a dead backend cost the client nothing.
import { type Endpoint, endpointString } from '../model/types.js';

interface Affinity {
  endpoint: string;
  lastUsedMs: number;
}

export class EndpointPicker {
  private endpoints: string[] = [];
  private nextIndex = 0;
  private readonly affinity = new Map<string, Affinity>();

  /** affinitySeconds 0: no session affinity. */
  constructor(private affinitySeconds: number) {}

  /** New endpoints or affinity; the round-robin position and still-valid affinities are kept. */
  update(endpoints: readonly Endpoint[], affinitySeconds: number): void {
    const next = endpoints.map(endpointString);
    if (affinitySeconds !== this.affinitySeconds) this.affinity.clear();
    this.affinitySeconds = affinitySeconds;
    if (next.join(',') === this.endpoints.join(',')) return;
    const known = new Set(next);
    for (const [client, a] of this.affinity) if (!known.has(a.endpoint)) this.affinity.delete(client);
    this.endpoints = next;
    if (this.nextIndex >= next.length) this.nextIndex = 0;
  }

  get size(): number {
    return this.endpoints.length;
  }

  /**
   * "ip:port" of every endpoint, in the order a connection from clientIP should try them:
   * its affinity endpoint first (if any and not expired), then round-robin from the current
   * position. Advances the round-robin position by one.
   */
  candidates(clientIP: string, nowMs: number): string[] {
    const n = this.endpoints.length;
    if (n === 0) return [];
    const order: string[] = [];
    if (this.affinitySeconds > 0) {
      const a = this.affinity.get(clientIP);
      if (a && nowMs - a.lastUsedMs <= this.affinitySeconds * 1000) order.push(a.endpoint);
    }
    // A client with a live affinity does not move the rotation: others keep their fair share.
    const start = this.nextIndex;
    if (order.length === 0) this.nextIndex = (this.nextIndex + 1) % n;
    for (let i = 0; i < n; i++) {
      const e = this.endpoints[(start + i) % n]!;
      if (e !== order[0]) order.push(e);
    }
    return order;
  }

  /** The connection from clientIP reached this endpoint: remember it for affinity. */
  connected(clientIP: string, endpoint: string, nowMs: number): void {
    if (this.affinitySeconds > 0) this.affinity.set(clientIP, { endpoint, lastUsedMs: nowMs });
  }

  /** Forget affinities idle for longer than the timeout (called on each sync). */
  expire(nowMs: number): void {
    for (const [client, a] of this.affinity)
      if (nowMs - a.lastUsedMs > this.affinitySeconds * 1000) this.affinity.delete(client);
  }
}

/** Split "ip:port" (IPv4) into its parts. */
export function parseHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
}
