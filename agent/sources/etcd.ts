// The etcd manifest source (--manifest-etcd-endpoints, --manifest-etcd-prefix): the fourth way
// early kubelet learned its pods, "an etcd watch acting on any changes". Every key under the prefix
// holds one Pod; the source lists the prefix once, then watches it from the next revision, and
// sends a complete snapshot after each change, as the file source does after each scan.
//
// A lost connection never empties the set: the pods keep running, the error is shown beside the
// rejected manifests, and the watch is made again from the revision after the last one applied
// (resumed, not relisted). When that revision has been compacted away etcd cancels the watch
// (ErrCompacted): the prefix is listed again and watched from the list's revision.
//
// This module loads etcd3 with gRPC and its protobuf loader (about 150 ms and 30 MiB of RSS on
// this project's machine): agent.ts imports it only when --manifest-etcd-endpoints is given.
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Etcd3, type IOptions, type IWatchResponse, type Watcher } from 'etcd3';
import type { Logger } from '../../lib/log.js';
import { EtcdPods } from './etcd-pods.js';
import type { ManifestError, PodSource, SourceUpdate } from './types.js';
import { errorMessage } from '../../lib/errors.js';

export interface EtcdSourceOptions {
  endpoints: string[];
  prefix: string;
  /** PEM files: the CA that signed etcd's serving certificate, and the client certificate and key. */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  nodeName: string;
  logger: Logger;
  /** Back-off between reconnection attempts: from retryMinMs, doubling, up to retryMaxMs. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

/** How a watch ended: the connection broke (resume from the next revision) or etcd canceled it (relist). */
type WatchEnd = 'disconnected' | 'canceled' | 'stopped';

export function etcdClientOptions(
  o: Pick<EtcdSourceOptions, 'endpoints' | 'caFile' | 'certFile' | 'keyFile'>,
): IOptions {
  const read = (f: string | undefined, flag: string) => {
    if (!f) return undefined;
    try {
      return readFileSync(f);
    } catch (e) {
      throw new Error(`--manifest-etcd-${flag} ${f}: cannot read: ${(e as NodeJS.ErrnoException).code ?? message(e)}`);
    }
  };
  const tls = o.caFile || o.certFile || o.keyFile;
  return {
    hosts: o.endpoints,
    // Without a CA file gRPC verifies etcd's certificate against the system's roots.
    ...(tls
      ? {
          credentials: {
            rootCertificate: read(o.caFile, 'cafile')!,
            privateKey: read(o.keyFile, 'keyfile'),
            certChain: read(o.certFile, 'certfile'),
          },
        }
      : {}),
    dialTimeout: 5_000,
    grpcOptions: {
      // A partition that leaves the TCP connection open is noticed within ~40 s (etcd allows pings every 5 s).
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      // gRPC's reconnection back-off grows to 2 minutes by default: an etcd that is back is seen within 10 s.
      'grpc.max_reconnect_backoff_ms': 10_000,
    },
  };
}

export class EtcdSource implements PodSource {
  readonly name = 'etcd' as const;
  /** Why etcd cannot be read now (shown in /manifestErrors while the last good pods keep running). */
  fetchError?: ManifestError;
  private readonly pods: EtcdPods;
  private client?: Etcd3;
  private emit?: (u: SourceUpdate) => void;
  private watcher?: Watcher;
  private endWatch?: (how: WatchEnd) => void;
  /** Every change up to this revision has been applied; a watch resumes at the next one. */
  private revision = 0;
  /** The last watch got as far as etcd's "created" answer: the next retry starts from the shortest delay. */
  private watcherWasConnected = false;
  private readonly abort = new AbortController();
  private loop?: Promise<void>;

  constructor(private readonly opts: EtcdSourceOptions) {
    this.pods = new EtcdPods(opts.nodeName);
  }

  async start(emit: (u: SourceUpdate) => void): Promise<void> {
    this.emit = emit;
    this.client = new Etcd3(etcdClientOptions(this.opts)); // throws naming an unreadable --manifest-etcd-*file
    // Not awaited: an etcd that is down must not hold up the agent. Until the first list answers
    // the source is not ready, so nothing it might want is taken for an orphan.
    this.loop = this.run();
  }

  private get origin(): string {
    return this.opts.endpoints.join(',');
  }

  private async run(): Promise<void> {
    const min = this.opts.retryMinMs ?? 500;
    const max = this.opts.retryMaxMs ?? 10_000;
    let delay = min;
    let listed = false;
    while (!this.abort.signal.aborted) {
      let end: WatchEnd;
      try {
        if (!listed) await this.list();
        listed = true;
        end = await this.watch();
      } catch (e) {
        this.fail(`listing ${this.opts.prefix} failed: ${message(e)}`);
        end = 'disconnected';
      }
      if (end === 'stopped') return;
      // A canceled watch is listed again after the back-off, which grows if etcd keeps canceling;
      // a watch that got going and then lost its connection is retried soon.
      if (end === 'canceled') listed = false;
      else if (this.watcherWasConnected) delay = min;
      this.watcherWasConnected = false;
      try {
        await sleep(delay, undefined, { signal: this.abort.signal });
      } catch {
        return;
      }
      delay = Math.min(delay * 2, max);
    }
  }

  /** Get of the whole prefix: the complete set, and the revision to watch from. */
  private async list(): Promise<void> {
    const res = await this.client!.getAll().prefix(this.opts.prefix).exec();
    this.pods.replaceAll(res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() })));
    this.revision = Number(res.header.revision);
    this.opts.logger.info('listed etcd prefix', {
      prefix: this.opts.prefix,
      keys: res.kvs.length,
      revision: this.revision,
    });
    this.send();
  }

  /** One watch from the revision after the last applied one, until it ends. */
  private watch(): Promise<WatchEnd> {
    const from = this.revision + 1;
    return new Promise<WatchEnd>((resolve) => {
      const w = this.client!.watch().prefix(this.opts.prefix).startRevision(String(from)).watcher();
      this.watcher = w;
      let done = false;
      const end = (how: WatchEnd) => {
        if (done) return;
        done = true;
        this.watcher = undefined;
        this.endWatch = undefined;
        resolve(how);
      };
      this.endWatch = end;
      w.on('connected', () => {
        this.watcherWasConnected = true;
        if (this.fetchError) this.opts.logger.info('etcd reachable again', { endpoints: this.origin });
        this.fetchError = undefined;
        this.opts.logger.info('watching etcd prefix', { prefix: this.opts.prefix, fromRevision: from });
      });
      w.on('data', (res: IWatchResponse) => this.apply(res));
      w.on('disconnected', (e: Error) => {
        if (done) return; // stopped: the client's close() drops the stream
        this.fail(`watch disconnected: ${message(e)}`);
        // Detach this watcher (etcd3 would re-attach it itself, from a revision it advances on
        // reconnection before the events in between have arrived); the loop makes a new one.
        void w.cancel().catch(() => {});
        end('disconnected');
      });
      // Canceled by etcd: for a start revision that was compacted away (ErrCompacted) and for any
      // other reason a watch cannot go on. Either way only a fresh list is sure to be complete.
      w.on('error', (e: Error) => {
        if (done) return;
        void this.whyCanceled(from, e).then((why) => {
          this.opts.logger.warn('etcd canceled the watch: listing the prefix again', {
            prefix: this.opts.prefix,
            fromRevision: from,
            reason: why,
          });
          end('canceled');
        });
      });
    });
  }

  /**
   * etcd3 passes on a canceled watch without etcd's compact_revision: a read at the same revision
   * answers ErrCompacted when that is the reason, so the log can say so.
   */
  private async whyCanceled(from: number, e: Error): Promise<string> {
    try {
      await this.client!.getAll().prefix(this.opts.prefix).revision(from).limit(1).exec();
      return message(e);
    } catch (err) {
      return /compacted/.test(message(err)) ? `revision ${from} was compacted (ErrCompacted)` : message(e);
    }
  }

  private apply(res: IWatchResponse): void {
    let rev = this.revision;
    for (const ev of res.events) {
      const key = ev.kv.key.toString();
      if (ev.type === 'Put') this.pods.put(key, ev.kv.value.toString());
      else this.pods.delete(key);
      rev = Math.max(rev, Number(ev.kv.mod_revision));
    }
    // A progress notification (no events): everything up to its revision has been sent. An event
    // response's header may already name a later revision whose events are still to come.
    if (!res.events.length) rev = Math.max(rev, Number(res.header.revision));
    this.revision = rev;
    if (res.events.length) this.send();
  }

  private send(): void {
    if (this.abort.signal.aborted) return;
    const { pods, errors } = this.pods.snapshot();
    this.emit?.({ source: 'etcd', op: 'snapshot', pods, errors });
  }

  private fail(why: string): void {
    // gRPC's messages carry a timestamp and a resolver note: without them a repeated failure is one
    // entry (and one log line), not one per retry.
    const reason = why.replace(/ \(\d{4}-\d\d-\d\dT[^)]*\)/g, '').replace(/\.?\s*Resolution note:.*$/s, '');
    const first = this.fetchError?.reason !== reason;
    this.fetchError = {
      source: 'etcd',
      origin: this.origin,
      object: '<etcd>',
      field: '<connection>',
      reason,
      time: first ? new Date().toISOString() : this.fetchError!.time,
    };
    if (first)
      this.opts.logger.warn('etcd unusable; keeping the pods it gave', {
        endpoints: this.origin,
        reason,
        revision: this.revision,
      });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    const w = this.watcher;
    this.endWatch?.('stopped');
    // The cancel waits for etcd's answer: bounded, as etcd may be gone.
    if (w) await Promise.race([w.cancel().catch(() => {}), sleep(1000)]);
    this.client?.close();
    await this.loop;
  }
}

function message(e: unknown): string {
  return errorMessage(e);
}
