// The pod sources an agent's flags ask for (--pod-manifest-path, --manifest-url, the manifest
// server, etcd), built for agent.ts, which registers and starts them with the others.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';
import type { AgentConfig } from '../config/config.js';
import { parseHostPort } from '../config/config.js';
import { FileSource } from './file.js';
import { ManifestServer, isLoopback } from './manifest-server.js';
import type { PodSource } from './types.js';
import { UrlSource } from './url.js';

/**
 * Adds the flags' sources to `sources` as each is made (so that stop() reaches those made before
 * one that throws). Returns the manifest server, if one was asked for. Throws naming a bad flag.
 */
export async function addConfiguredSources(
  cfg: AgentConfig,
  nodeName: string,
  logger: Logger,
  sources: PodSource[],
): Promise<ManifestServer | undefined> {
  let manifestServer: ManifestServer | undefined;
  if (cfg.podManifestPath)
    sources.push(
      new FileSource({
        dir: cfg.podManifestPath,
        nodeName,
        checkFrequencyMs: cfg.fileCheckFrequencyMs,
        logger: logger.with({ source: 'file' }),
      }),
    );
  if (cfg.manifestUrl) {
    sources.push(
      new UrlSource({
        url: cfg.manifestUrl,
        headers: cfg.manifestUrlHeader,
        nodeName,
        checkFrequencyMs: cfg.httpCheckFrequencyMs,
        logger: logger.with({ source: 'http' }),
      }),
    );
  }
  if (cfg.manifestServerAddress) {
    const { host, port } = parseHostPort(cfg.manifestServerAddress, '--manifest-server-address');
    let token: string | undefined;
    if (cfg.manifestServerTokenFile) {
      token = readFileSync(cfg.manifestServerTokenFile, 'utf8').trim();
      if (!token) throw new Error(`--manifest-server-token-file ${cfg.manifestServerTokenFile} is empty`);
    } else if (!isLoopback(host)) {
      throw new Error(
        `--manifest-server-address ${host} is not a loopback address: --manifest-server-token-file is required`,
      );
    }
    manifestServer = new ManifestServer({
      host,
      port,
      token,
      nodeName,
      logger: logger.with({ source: 'server' }),
      stateDir: join(cfg.rootDir, 'manifest-server'),
    });
    sources.push(manifestServer);
  }
  if (cfg.manifestEtcdEndpoints.length) {
    // Imported only with the flag: etcd3 brings gRPC and its protobuf loader (start-up time, memory).
    const { EtcdSource } = await import('./etcd.js');
    sources.push(
      new EtcdSource({
        endpoints: cfg.manifestEtcdEndpoints,
        prefix: cfg.manifestEtcdPrefix ?? `/kubenode/nodes/${nodeName}/pods/`,
        caFile: cfg.manifestEtcdCafile,
        certFile: cfg.manifestEtcdCertfile,
        keyFile: cfg.manifestEtcdKeyfile,
        nodeName,
        logger: logger.with({ source: 'etcd' }),
      }),
    );
  }
  return manifestServer;
}
