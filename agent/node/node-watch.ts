// Follows this node's own Node object: a GET, then a watch from that resourceVersion limited to
// this name, again and again. Each round starts with a fresh GET, so an expired resourceVersion
// (410 Gone) or a dropped connection costs one small read and nothing is missed. Under the
// Node authorizer a node may get, list and watch Nodes; the field selector keeps it to its own.
import { Watch, type CoreV1Api, type KubeConfig, type V1Node } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { apiErrorMessage, isNotFound, requestOptions } from '../kube/client.js';
import { ApiRetryBackoff, sleep } from '../kube/backoff.js';

export interface NodeWatchOptions {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  nodeName: string;
  logger: Logger;
  /** Called with the Node as the apiserver has it, or undefined when it does not exist. */
  onNode(node: V1Node | undefined): void;
  requestTimeoutMs: number;
}

export class NodeWatch {
  private readonly abort = new AbortController();
  private watchAbort: AbortController | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly o: NodeWatchOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.watchAbort?.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const backoff = new ApiRetryBackoff(200, 7000);
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let rv: string | undefined;
      try {
        const node = await this.o.core.readNode(
          { name: this.o.nodeName },
          requestOptions({ timeoutMs: this.o.requestTimeoutMs }),
        );
        rv = node.metadata?.resourceVersion;
        this.o.onNode(node);
      } catch (err) {
        if (isNotFound(err)) this.o.onNode(undefined);
        else
          this.o.logger.warn('cannot read the Node; retrying', { node: this.o.nodeName, error: apiErrorMessage(err) });
        await sleep(backoff.next(), signal);
        continue;
      }
      const error = await this.watchOnce(rv);
      if (signal.aborted) break;
      if (error) {
        this.o.logger.warn('watch of the Node ended; watching again', { node: this.o.nodeName, error });
        await sleep(backoff.next(), signal);
      } else {
        backoff.reset();
      }
    }
  }

  /** One watch until the server closes it; resolves with an error message, or undefined. */
  private watchOnce(resourceVersion: string | undefined): Promise<string | undefined> {
    return new Promise((resolve) => {
      let error: string | undefined;
      new Watch(this.o.kubeConfig)
        .watch(
          '/api/v1/nodes',
          {
            fieldSelector: `metadata.name=${this.o.nodeName}`,
            resourceVersion,
            allowWatchBookmarks: true,
            // Bounded so a silently dead connection is replaced within minutes (jittered
            // between 4 and 5 minutes, as client-go's reflectors do).
            timeoutSeconds: 240 + Math.floor(Math.random() * 60),
          },
          (phase, obj: V1Node & { code?: number; message?: string }) => {
            if (phase === 'ADDED' || phase === 'MODIFIED') this.o.onNode(obj);
            else if (phase === 'DELETED') this.o.onNode(undefined);
            else if (phase === 'ERROR') error = `${obj.code ?? ''} ${obj.message ?? 'watch error'}`.trim();
          },
          (err: unknown) => resolve(err ? apiErrorMessage(err) : error),
        )
        .then(
          (ctl) => {
            this.watchAbort = ctl;
            if (this.abort.signal.aborted) ctl.abort();
          },
          (err: unknown) => resolve(apiErrorMessage(err)),
        );
    });
  }
}
