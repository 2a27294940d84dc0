// The manifest URL (--manifest-url): polled every --http-check-frequency. The body is a Pod or a
// PodList (YAML or JSON). An unreachable URL, a non-200 answer or a body that is not a manifest at
// all keeps the last good set: a network hiccup must never delete running pods. Individual bad
// pods in a good list are refused, the others applied.
import type { Logger } from '../../lib/log.js';
import { parseDocuments, readManifests } from './manifest.js';
import type { ManifestError, PodSource, SourceUpdate } from './types.js';
import { errorMessage } from '../../lib/errors.js';

export interface UrlSourceOptions {
  url: string;
  headers?: Record<string, string>;
  nodeName: string;
  checkFrequencyMs: number;
  timeoutMs?: number;
  logger: Logger;
}

export class UrlSource implements PodSource {
  readonly name = 'http' as const;
  private timer?: NodeJS.Timeout;
  private emit?: (u: SourceUpdate) => void;
  private lastBody?: string;
  private stopped = false;
  /** Why the last fetch failed, while it keeps failing (shown in the agent API beside rejected pods). */
  fetchError?: ManifestError;

  constructor(private readonly opts: UrlSourceOptions) {}

  async start(emit: (u: SourceUpdate) => void): Promise<void> {
    this.emit = emit;
    await this.poll();
    this.timer = setInterval(() => void this.poll(), this.opts.checkFrequencyMs);
    this.timer.unref();
  }

  private fail(reason: string): void {
    const first = this.fetchError?.reason !== reason;
    this.fetchError = {
      source: 'http',
      origin: this.opts.url,
      object: '<url>',
      field: '<body>',
      reason,
      time: first ? new Date().toISOString() : this.fetchError!.time,
    };
    if (first)
      this.opts.logger.warn('manifest URL unusable; keeping the last good set of pods', { url: this.opts.url, reason });
  }

  async poll(): Promise<void> {
    if (this.stopped) return;
    let body: string;
    try {
      const res = await fetch(this.opts.url, {
        headers: this.opts.headers,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
      });
      body = await res.text();
      if (res.status !== 200) return this.fail(`GET answered ${res.status} ${res.statusText}`);
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      return this.fail(`GET failed: ${cause?.code ?? cause?.message ?? errorMessage(e)}`);
    }
    const { docs, error } = parseDocuments(body);
    if (error) return this.fail(error);
    if (docs.length === 0) return this.fail('empty body: expected a Pod or a PodList');
    const kinds = docs.map((d) => (d as { kind?: unknown } | null)?.kind);
    if (!kinds.every((k) => k === 'Pod' || k === 'PodList' || k === 'List'))
      return this.fail(
        `expected a Pod or a PodList, got kind ${JSON.stringify(kinds.find((k) => k !== 'Pod' && k !== 'PodList' && k !== 'List') ?? null)}`,
      );
    if (this.fetchError) this.opts.logger.info('manifest URL usable again', { url: this.opts.url });
    this.fetchError = undefined;
    if (body === this.lastBody) {
      // Unchanged: re-send anyway only on the first poll (marks the source as seen).
      return;
    }
    this.lastBody = body;
    const { pods, errors } = readManifests(body, {
      source: 'http',
      origin: this.opts.url,
      nodeName: this.opts.nodeName,
    });
    if (!this.stopped) this.emit?.({ source: 'http', op: 'snapshot', pods, errors });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }
}
