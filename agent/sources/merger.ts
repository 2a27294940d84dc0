// One desired set of pods, keyed by UID, merged from every source; like kubelet's PodConfig.
// Each source owns its own slice (replaced by a snapshot, or changed by add/update/remove); the
// merger recomputes the union, rejects conflicts (the same UID or namespace/name from two places:
// the first source registered wins) and reports what was added, updated and removed.
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { stableStringify } from '../podspec/hash.js';
import { ANNOTATIONS, type ManifestError, type SourceName, type SourceUpdate } from './types.js';

export interface DesiredChanges {
  added: V1Pod[];
  updated: V1Pod[];
  removed: V1Pod[];
}

const uidOf = (p: V1Pod) => p.metadata!.uid!;
const fullName = (p: V1Pod) => `${p.metadata!.namespace}/${p.metadata!.name}`;

/** The content that matters for "did this pod change": everything but the seen-time annotation. */
function contentKey(p: V1Pod): string {
  const a = { ...p.metadata?.annotations };
  delete a[ANNOTATIONS.configSeen];
  return stableStringify({ ...p, metadata: { ...p.metadata, annotations: a }, status: undefined });
}

export class PodConfig {
  private readonly sources = new Map<
    SourceName,
    { pods: Map<string, V1Pod>; errors: ManifestError[]; seen: boolean }
  >();
  private desiredSet = new Map<string, V1Pod>();
  private conflictErrors: ManifestError[] = [];

  constructor(private readonly opts: { logger: Logger; onChange: (c: DesiredChanges) => void }) {}

  /** Sources are registered up front; their order breaks ties between conflicting pods. */
  register(source: SourceName): void {
    if (!this.sources.has(source)) this.sources.set(source, { pods: new Map(), errors: [], seen: false });
  }

  /** True once every registered source has delivered at least once: only then may pods that no source wants be removed. */
  allSourcesReady(): boolean {
    return [...this.sources.values()].every((s) => s.seen);
  }

  desired(): V1Pod[] {
    return [...this.desiredSet.values()];
  }

  get(uid: string): V1Pod | undefined {
    return this.desiredSet.get(uid);
  }

  /** Every manifest currently refused, with where it came from, the field and the reason. */
  rejected(): ManifestError[] {
    return [...[...this.sources.values()].flatMap((s) => s.errors), ...this.conflictErrors];
  }

  apply(u: SourceUpdate): DesiredChanges {
    this.register(u.source);
    const s = this.sources.get(u.source)!;
    const now = new Date().toISOString();
    const stamp = (errs: ManifestError[], previous: ManifestError[]) =>
      errs.map((e) => ({
        ...e,
        time:
          e.time ??
          previous.find(
            (p) => p.origin === e.origin && p.object === e.object && p.field === e.field && p.reason === e.reason,
          )?.time ??
          now,
      }));
    s.seen = true;
    const before = s.errors;
    switch (u.op) {
      case 'snapshot':
        s.pods = new Map(u.pods.map((p) => [uidOf(p), p]));
        s.errors = stamp(u.errors, s.errors);
        break;
      case 'add':
      case 'update':
        for (const p of u.pods) s.pods.set(uidOf(p), p);
        if (u.errors) s.errors = stamp([...s.errors, ...u.errors], s.errors).slice(-50); // pushed errors: keep the latest few
        break;
      case 'remove':
        for (const p of u.pods) s.pods.delete(uidOf(p));
        break;
    }
    // Log each refusal once, when it first appears, not on every rescan of an unchanged file.
    const same = (a: ManifestError, b: ManifestError) =>
      a.origin === b.origin && a.object === b.object && a.field === b.field && a.reason === b.reason;
    for (const e of s.errors) if (!before.some((b) => same(b, e))) this.opts.logger.warn('manifest rejected', { ...e });
    return this.recompute();
  }

  private recompute(): DesiredChanges {
    const next = new Map<string, V1Pod>();
    const byName = new Map<string, V1Pod>();
    const conflicts: ManifestError[] = [];
    for (const [source, s] of this.sources) {
      // Stable order inside a source too, so the same inputs always pick the same winner.
      const pods = [...s.pods.values()].sort((a, b) =>
        (origin(a) + fullName(a)).localeCompare(origin(b) + fullName(b)),
      );
      for (const p of pods) {
        const other = next.get(uidOf(p)) ?? byName.get(fullName(p));
        if (other) {
          const why = next.has(uidOf(p)) ? `duplicate pod UID ${uidOf(p)}` : `duplicate pod name ${fullName(p)}`;
          conflicts.push({
            source,
            origin: origin(p),
            object: fullName(p),
            field: next.has(uidOf(p)) ? 'metadata.uid' : 'metadata.name',
            reason: `${why}: already defined by ${origin(other)}`,
          });
          continue;
        }
        next.set(uidOf(p), p);
        byName.set(fullName(p), p);
      }
    }
    const changes: DesiredChanges = { added: [], updated: [], removed: [] };
    for (const [uid, p] of next) {
      const old = this.desiredSet.get(uid);
      if (!old) changes.added.push(p);
      else if (contentKey(old) !== contentKey(p)) changes.updated.push(p);
    }
    for (const [uid, p] of this.desiredSet) if (!next.has(uid)) changes.removed.push(p);
    for (const c of conflicts) {
      if (!this.conflictErrors.some((e) => e.origin === c.origin && e.reason === c.reason))
        this.opts.logger.warn('manifest rejected', { ...c });
    }
    this.conflictErrors = conflicts;
    this.desiredSet = next;
    if (changes.added.length || changes.updated.length || changes.removed.length) this.opts.onChange(changes);
    return changes;
  }
}

function origin(p: V1Pod): string {
  return (
    p.metadata?.annotations?.[ANNOTATIONS.configOrigin] ?? p.metadata?.annotations?.[ANNOTATIONS.configSource] ?? ''
  );
}
