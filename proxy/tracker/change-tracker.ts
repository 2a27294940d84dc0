// The change trackers (upstream: pkg/proxy/servicechangetracker.go, endpointschangetracker.go):
// turn Service and EndpointSlice events from any source into the ServicePort and Endpoint maps,
// and remember which Services changed since the last sync, so that a proxier can rewrite only
// what those changes touch. An event that changes nothing the proxy uses is not a change.
import { createHash } from 'node:crypto';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { compareAddresses } from '../../lib/ip.js';
import type { Logger } from '../../lib/log.js';
import { parseEndpointSlice } from '../model/endpoint-slice.js';
import { parseService, serviceKey } from '../model/service.js';
import type { Endpoint, ProxyState, ServicePort } from '../model/types.js';

/** How long a deleted Service's EndpointSlices may outlive it before that is worth a warning. */
const ORPHAN_GRACE_MS = 60_000;

interface SliceEntry {
  service: string;
  ports: Map<string, Endpoint[]>;
}

export class ChangeTracker {
  private readonly services = new Map<string, readonly ServicePort[]>();
  /** Digest of each Service's parsed ports, to tell a real change from a no-op update. */
  private readonly serviceDigest = new Map<string, string>();
  private readonly slices = new Map<string, SliceEntry>();
  private readonly slicesByService = new Map<string, Set<string>>();
  private readonly endpoints = new Map<string, readonly Endpoint[]>();
  private readonly endpointKeysByService = new Map<string, string[]>();
  private changed = new Set<string>();
  /** Services that exist but are not proxied (headless, ExternalName): their slices are normal. */
  private readonly notProxied = new Set<string>();
  /**
   * When each Service was deleted. Its EndpointSlices go a moment later (the garbage collector
   * follows their owner reference), so until then they are not worth a warning.
   */
  private readonly deletedAt = new Map<string, number>();

  /** onChange is called after every event that changed the proxy's picture (to request a sync). */
  constructor(
    private readonly log: Logger,
    private readonly onChange: () => void = () => {},
  ) {}

  updateService(obj: V1Service): void {
    const parsed = parseService(obj);
    if (parsed.errors.length > 0) {
      // Keep whatever was valid before: a typo must not tear down a working Service.
      this.log.error('Service rejected', {
        object: `Service ${parsed.key ?? '(unnamed)'}`,
        errors: parsed.errors.map((e) => `${e.field}: ${e.reason}`),
        kept: parsed.key !== undefined && this.services.has(parsed.key) ? 'previous version' : 'nothing',
      });
      return;
    }
    const key = parsed.key!;
    this.deletedAt.delete(key);
    if (parsed.ignoredReason) {
      this.log.debug('Service ignored', { object: `Service ${key}`, reason: parsed.ignoredReason });
      this.notProxied.add(key);
      this.removeService(key);
      return;
    }
    this.notProxied.delete(key);
    const digest = createHash('sha1').update(JSON.stringify(parsed.ports)).digest('base64');
    if (this.serviceDigest.get(key) === digest) return;
    this.services.set(key, parsed.ports);
    this.serviceDigest.set(key, digest);
    this.markChanged(key);
  }

  deleteService(obj: V1Service | string): void {
    const key = typeof obj === 'string' ? obj : serviceKey(obj);
    if (!key) return;
    this.notProxied.delete(key);
    this.deletedAt.set(key, Date.now());
    this.removeService(key);
  }

  private removeService(key: string): void {
    if (!this.services.delete(key)) return;
    this.serviceDigest.delete(key);
    this.markChanged(key);
  }

  updateEndpointSlice(obj: V1EndpointSlice): void {
    const parsed = parseEndpointSlice(obj);
    if (parsed.errors.length > 0) {
      this.log.error('EndpointSlice rejected', {
        object: `EndpointSlice ${parsed.key ?? '(unnamed)'}`,
        errors: parsed.errors.map((e) => `${e.field}: ${e.reason}`),
        kept: parsed.key !== undefined && this.slices.has(parsed.key) ? 'previous version' : 'nothing',
      });
      return;
    }
    const key = parsed.key!;
    if (parsed.ignoredReason) {
      this.log.debug('EndpointSlice ignored', { object: `EndpointSlice ${key}`, reason: parsed.ignoredReason });
      this.removeSlice(key);
      return;
    }
    const old = this.slices.get(key);
    this.slices.set(key, { service: parsed.service!, ports: parsed.ports });
    if (old && old.service !== parsed.service) {
      this.slicesByService.get(old.service)?.delete(key);
      this.recomputeEndpoints(old.service);
    }
    let set = this.slicesByService.get(parsed.service!);
    if (!set) this.slicesByService.set(parsed.service!, (set = new Set()));
    set.add(key);
    this.recomputeEndpoints(parsed.service!);
  }

  deleteEndpointSlice(obj: V1EndpointSlice | string): void {
    const key =
      typeof obj === 'string'
        ? obj
        : (() => {
            const n = obj.metadata?.name;
            return n ? `${obj.metadata?.namespace ?? 'default'}/${n}` : undefined;
          })();
    if (key) this.removeSlice(key);
  }

  private removeSlice(key: string): void {
    const old = this.slices.get(key);
    if (!old) return;
    this.slices.delete(key);
    const set = this.slicesByService.get(old.service);
    set?.delete(key);
    if (set && set.size === 0) this.slicesByService.delete(old.service);
    this.recomputeEndpoints(old.service);
  }

  /** Merge every slice of one Service into its endpoint lists; mark it changed if they differ. */
  private recomputeEndpoints(service: string): void {
    const merged = new Map<string, Map<string, Endpoint>>();
    for (const sliceKey of this.slicesByService.get(service) ?? []) {
      for (const [epKey, eps] of this.slices.get(sliceKey)!.ports) {
        let m = merged.get(epKey);
        if (!m) merged.set(epKey, (m = new Map()));
        // The same address in two slices (a slice being replaced): the ready one wins.
        for (const e of eps) {
          const id = `${e.ip}:${e.port}`;
          const prev = m.get(id);
          if (!prev || (!prev.ready && e.ready)) m.set(id, e);
        }
      }
    }
    let differs = false;
    const oldKeys = this.endpointKeysByService.get(service) ?? [];
    for (const k of oldKeys) {
      if (!merged.has(k)) {
        this.endpoints.delete(k);
        differs = true;
      }
    }
    for (const [k, m] of merged) {
      // A stable order (by address) keeps chains identical across syncs when nothing changed.
      const list = [...m.values()].sort((a, b) => (a.ip === b.ip ? a.port - b.port : compareAddresses(a.ip, b.ip)));
      const prev = this.endpoints.get(k);
      if (!prev || !sameEndpoints(prev, list)) {
        this.endpoints.set(k, list);
        differs = true;
      }
    }
    if (merged.size > 0) this.endpointKeysByService.set(service, [...merged.keys()]);
    else this.endpointKeysByService.delete(service);
    if (differs) this.markChanged(service);
  }

  private markChanged(service: string): void {
    this.changed.add(service);
    this.onChange();
  }

  /**
   * Report these Services as changed again (their sync failed): the next sync, full after a
   * failure, then also cleans up after them (conntrack) as if it had seen the change itself.
   */
  requeue(services: Iterable<string>): void {
    for (const s of services) this.changed.add(s);
  }

  hasChanges(): boolean {
    return this.changed.size > 0;
  }

  /**
   * The current picture and the Services changed since the last call. Maps are copied (values
   * are never mutated in place), so a sync in progress sees a consistent state while events
   * keep arriving.
   */
  takeState(): ProxyState {
    const changed = this.changed;
    this.changed = new Set();
    const now = Date.now();
    for (const [svc, at] of this.deletedAt) if (now - at > ORPHAN_GRACE_MS) this.deletedAt.delete(svc);
    for (const svc of changed) {
      const slices = this.slicesByService.get(svc);
      const expected = this.services.has(svc) || this.notProxied.has(svc) || this.deletedAt.has(svc);
      if (!expected && slices && slices.size > 0) {
        this.log.warn(
          'EndpointSlice for a Service that does not exist; its endpoints are ignored until the Service appears',
          { object: [...slices].map((s) => `EndpointSlice ${s}`).join(', '), service: svc },
        );
      }
    }
    return { services: new Map(this.services), endpoints: new Map(this.endpoints), changed };
  }

  counts(): { services: number; endpointSlices: number } {
    return { services: this.services.size, endpointSlices: this.slices.size };
  }
}

function sameEndpoints(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (
      x.ip !== y.ip ||
      x.port !== y.port ||
      x.ready !== y.ready ||
      x.serving !== y.serving ||
      x.terminating !== y.terminating ||
      x.nodeName !== y.nodeName
    )
      return false;
  }
  return true;
}
