// kubenode-proxy: sources -> change tracker -> proxier (planner + applier), driven by the
// bounded-frequency runner, with /healthz, /metrics and health check node ports beside it.
import type { Server } from 'node:http';
import { createLogger, type Logger } from '../lib/log.js';
import { FlagError, parseFlags, type ProxyFlags, USAGE } from './flags.js';
import { collectGarbage } from './gc.js';
import { PROXY_MODES } from './modes.js';
import { removeOtherModes } from './other-modes.js';
import { addressesInCidrs, nodeIPv4Addresses } from './node-addresses.js';
import type { Proxier, SyncResult } from './proxier.js';
import { type SyncKind, SyncRunner } from './runner.js';
import { close, listen, parseBindAddress } from './server/bind.js';
import { ProxyHealth } from './server/healthz.js';
import { ProxyMetrics } from './server/metrics.js';
import { ServiceHealthServer, serviceHealthTargets } from './server/service-health.js';
import { ApiserverSource } from './sources/apiserver.js';
import { DirectorySource } from './sources/directory.js';
import type { Source } from './sources/source.js';
import { ChangeTracker } from './tracker/change-tracker.js';
import { errorMessage } from '../lib/errors.js';

export interface RunningProxy {
  stop(): Promise<void>;
  /** Resolves when the first sync has completed. */
  firstSync: Promise<void>;
}

/** Start the long-running proxy (not --cleanup). */
export async function startProxy(flags: ProxyFlags, log: Logger, proxier: Proxier): Promise<RunningProxy> {
  const metrics = new ProxyMetrics(flags.proxyMode);
  const health = new ProxyHealth(2 * flags.syncPeriodMs);
  let nodePortHosts: string[] = [];
  const serviceHealth = new ServiceHealthServer(log, () => nodePortHosts);
  let runner: SyncRunner | undefined;
  const tracker = new ChangeTracker(log, () => {
    metrics.queued();
    runner?.request();
  });
  let resolveFirst!: () => void;
  const firstSync = new Promise<void>((r) => (resolveFirst = r));

  runner = new SyncRunner({
    minIntervalMs: flags.minSyncPeriodMs,
    maxIntervalMs: flags.syncPeriodMs,
    log,
    run: async (kind) => {
      const state = tracker.takeState();
      try {
        const r = await proxier.sync(state, { full: kind !== 'partial', periodic: kind === 'periodic' });
        if (r.full) collectGarbage();
        health.synced();
        metrics.synced(r, tracker.counts());
        logSync(log, kind, r, state.changed.size);
      } catch (e) {
        metrics.failed();
        tracker.requeue(state.changed);
        throw e;
      }
      if (flags.nodePortAddresses.length)
        nodePortHosts = addressesInCidrs(await nodeIPv4Addresses(), flags.nodePortAddresses);
      await serviceHealth.sync(serviceHealthTargets(state, flags.hostnameOverride));
      resolveFirst();
    },
  });

  const servers = await listenHealthAndMetrics(flags, health, metrics);

  const source: Source = flags.kubeconfig
    ? new ApiserverSource(flags.kubeconfig, log)
    : new DirectorySource(flags.servicesDir!, log);
  const startSource = source
    .start({
      serviceUpdated: (o) => tracker.updateService(o),
      serviceDeleted: (o) => tracker.deleteService(o),
      endpointSliceUpdated: (o) => tracker.updateEndpointSlice(o),
      endpointSliceDeleted: (o) => tracker.deleteEndpointSlice(o),
      // Only a complete picture is programmed: the first sync waits for the initial listing.
      synced: () => {
        log.info('sources synced', tracker.counts());
        runner!.start();
      },
    })
    .catch(async (e: Error) => {
      await Promise.all(servers.map(close));
      throw e;
    });
  await startSource;

  return {
    firstSync,
    stop: async () => {
      await source.stop();
      await runner!.stop();
      await serviceHealth.stop();
      await Promise.all(servers.map(close));
    },
  };
}

/** One line per sync: at info when it was full or changed a Service, else at debug. */
function logSync(log: Logger, kind: SyncKind, r: SyncResult, changedServices: number): void {
  const mem = process.memoryUsage();
  // A partial sync that changed a Service is logged at info too (upstream kube-proxy logs
  // every "SyncProxyRules complete" at V(2)): it is when traffic follows an endpoint change,
  // which scripts/failover.sh's page draws from this line.
  (r.full || changedServices > 0 ? log.info : log.debug)('synced proxy rules', {
    kind,
    full: r.full,
    ms: Math.round(r.durationMs),
    changedServices,
    rules: r.rules,
    written: r.objectsWritten,
    restores: r.restores,
    rssMiB: Math.round(mem.rss / 2 ** 20),
    heapMiB: Math.round(mem.heapUsed / 2 ** 20),
  });
}

/** The /healthz and /metrics servers, each only when its bind address is set. */
async function listenHealthAndMetrics(
  flags: ProxyFlags,
  health: ProxyHealth,
  metrics: ProxyMetrics,
): Promise<Server[]> {
  const servers: Server[] = [];
  if (flags.healthzBindAddress) {
    const { host, port } = parseBindAddress('healthz-bind-address', flags.healthzBindAddress);
    servers.push(await listen(health.handler, host, port));
  }
  if (flags.metricsBindAddress) {
    const { host, port } = parseBindAddress('metrics-bind-address', flags.metricsBindAddress);
    servers.push(await listen(metrics.handler, host, port));
  }
  return servers;
}

export async function main(argv: readonly string[]): Promise<number> {
  let flags: ProxyFlags;
  try {
    flags = parseFlags(argv);
  } catch (e) {
    if (e instanceof FlagError) {
      process.stderr.write(`kubenode-proxy: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = createLogger('kubenode-proxy', {}, { node: flags.hostnameOverride });
  try {
    const proxier = await PROXY_MODES[flags.proxyMode](flags, log);
    if (flags.cleanup) {
      await proxier.cleanup();
      await removeOtherModes(flags, log); // upstream's --cleanup removes every mode's rules
      return 0;
    }
    await removeOtherModes(flags, log);
    const running = await startProxy(flags, log, proxier);
    log.info('kubenode-proxy running', {
      mode: flags.proxyMode,
      source: flags.kubeconfig ? 'apiserver' : `dir ${flags.servicesDir}`,
    });
    await new Promise<void>((resolve) => {
      const onSignal = (sig: string) => {
        log.info('stopping; rules stay in place (use --cleanup to remove them)', { signal: sig });
        resolve();
      };
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
    });
    await running.stop();
    await proxier.close?.();
    return 0;
  } catch (e) {
    // A mode this machine cannot run (nftables without nf_tables) is a usage error, as a bad flag.
    if (e instanceof FlagError) {
      process.stderr.write(`kubenode-proxy: ${e.message}\n`);
      return 2;
    }
    log.error('kubenode-proxy failed', { error: errorMessage(e) });
    return 1;
  }
}
