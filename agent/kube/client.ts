// API clients for the agent, built from a kubeconfig file (the node's own credentials:
// user system:node:NAME). Thin on purpose: @kubernetes/client-node does the HTTP, TLS and
// (de)serialisation; this file only adds what every caller of the agent needs on top:
// per-request timeouts, patch content types, and readable apiserver errors.
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  Observable,
  PatchStrategy,
  setHeaderOptions,
  type ConfigurationOptions,
  type ObservableMiddleware,
} from '@kubernetes/client-node';
import { errorMessage } from '../../lib/errors.js';

export interface ApiClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
}

/** Loads the kubeconfig at `path` (as `kubectl --kubeconfig` would) and makes the clients. */
export function apiClients(path: string): ApiClients {
  const kubeConfig = new KubeConfig();
  try {
    kubeConfig.loadFromFile(path);
  } catch (err) {
    throw new Error(`kubeconfig ${path}: ${errorMessage(err)}`);
  }
  if (!kubeConfig.getCurrentCluster()) throw new Error(`kubeconfig ${path}: current-context names no cluster`);
  return {
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
  };
}

/**
 * Per-request options: a timeout (kubelet bounds its heartbeat requests the same way, so a
 * half-dead connection cannot stall Lease renewals past the lease duration) and optionally a
 * patch content type (the generated client would otherwise send JSON Patch).
 */
export function requestOptions(opts: { timeoutMs: number; patch?: keyof typeof PatchStrategy }): ConfigurationOptions {
  const timeout: ObservableMiddleware = {
    pre: (ctx) => {
      ctx.setSignal(AbortSignal.timeout(opts.timeoutMs));
      return new Observable(Promise.resolve(ctx));
    },
    post: (res) => new Observable(Promise.resolve(res)),
  };
  const base: ConfigurationOptions = { middleware: [timeout], middlewareMergeStrategy: 'append' };
  return opts.patch ? setHeaderOptions('Content-Type', PatchStrategy[opts.patch], base) : base;
}

/** The HTTP status of an apiserver error, or undefined for network errors (apiserver away). */
export function httpStatus(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

export const isNotFound = (err: unknown) => httpStatus(err) === 404;
export const isConflict = (err: unknown) => httpStatus(err) === 409;

/**
 * One line saying why a request failed: the apiserver's Status message ("nodes "x" is
 * forbidden: ...") when there is one, else the network error (ECONNREFUSED, timeout...).
 */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof ApiException) {
    let message = '';
    const body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        message = String((JSON.parse(body) as { message?: unknown }).message ?? '');
      } catch {
        message = body.slice(0, 300);
      }
    } else if (body && typeof body === 'object' && 'message' in body) {
      message = String((body as { message: unknown }).message);
    }
    return `HTTP ${err.code}${message ? `: ${message}` : ''}`;
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return code && !err.message.includes(String(code)) ? `${err.message} (${String(code)})` : err.message;
  }
  return String(err);
}
