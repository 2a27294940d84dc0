// Executing one CNI plugin (SPEC.md section 2 and 3): find the executable named by "type" in the
// binary directories, run it with the CNI_* environment and the request configuration on stdin,
// read the result or the error JSON from stdout.
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import type { PluginConf } from './conflist.js';
import { errorMessage } from '../../lib/errors.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC' | 'VERSION';

export interface Invocation {
  command: CniCommand;
  containerId?: string;
  netns?: string;
  ifName?: string;
  /** CNI_ARGS pairs. */
  args?: [string, string][];
}

/** A plugin answered with an error: the spec's code, message and details, and which plugin. */
export class CniPluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: CniCommand,
    readonly code: number,
    readonly msg: string,
    readonly details: string,
  ) {
    super(`CNI plugin ${plugin} ${command} failed (code ${code}): ${msg}${details ? `: ${details}` : ''}`);
    this.name = 'CniPluginError';
  }
}

export async function findPlugin(type: string, binDirs: string[]): Promise<string> {
  for (const dir of binDirs) {
    const p = join(dir, type);
    try {
      await access(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  throw new Error(
    `CNI plugin "${type}" not found in ${binDirs.join(':')} (scripts/install-cni.sh installs kubenode's and links Debian's reference plugins)`,
  );
}

/** The request configuration for one plugin (SPEC.md "Deriving request configuration"). Pure. */
export function requestConfig(
  plugin: PluginConf,
  name: string,
  cniVersion: string,
  extra: { prevResult?: unknown; runtimeConfig?: Record<string, unknown>; validAttachments?: unknown },
): Record<string, unknown> {
  const { capabilities: _drop, ...rest } = plugin;
  void _drop;
  const conf: Record<string, unknown> = { ...rest, cniVersion, name };
  if (extra.runtimeConfig && Object.keys(extra.runtimeConfig).length) conf.runtimeConfig = extra.runtimeConfig;
  if (extra.prevResult !== undefined) conf.prevResult = extra.prevResult;
  if (extra.validAttachments !== undefined) conf['cni.dev/valid-attachments'] = extra.validAttachments;
  return conf;
}

export async function invokePlugin(
  binDirs: string[],
  plugin: PluginConf,
  conf: Record<string, unknown>,
  inv: Invocation,
  timeoutMs = 60_000,
): Promise<unknown> {
  const file = await findPlugin(plugin.type, binDirs);
  // The agent's own environment, as libcni passes it, minus what would change how a Node.js
  // plugin starts: NODE_OPTIONS (an --inspect meant for the agent) and NODE_EXTRA_CA_CERTS
  // (tens of milliseconds per start parsing certificates no plugin uses).
  const { NODE_OPTIONS: _o, NODE_EXTRA_CA_CERTS: _c, ...inherited } = process.env;
  void _o;
  void _c;
  const env: NodeJS.ProcessEnv = {
    ...inherited,
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId ?? '',
    CNI_NETNS: inv.netns ?? '',
    CNI_IFNAME: inv.ifName ?? '',
    CNI_ARGS: (inv.args ?? []).map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_PATH: binDirs.join(':'),
  };
  const r = await run(file, [], { env, input: JSON.stringify(conf), allowFailure: true, timeoutMs });
  const out = r.stdout.trim();
  if (r.code !== 0) {
    let e: { code?: unknown; msg?: unknown; details?: unknown } | undefined;
    try {
      e = JSON.parse(out);
    } catch {
      /* not error JSON */
    }
    if (e && typeof e.code === 'number') {
      throw new CniPluginError(
        plugin.type,
        inv.command,
        e.code,
        String(e.msg ?? ''),
        typeof e.details === 'string' ? e.details : '',
      );
    }
    const why = r.signal ? `killed by ${r.signal} (timeout ${timeoutMs} ms?)` : `exit ${r.code}`;
    throw new CniPluginError(plugin.type, inv.command, 999, why, (out || r.stderr).trim().slice(0, 2000));
  }
  if (!out) return undefined;
  try {
    return JSON.parse(out);
  } catch (e) {
    throw new CniPluginError(plugin.type, inv.command, 6, 'plugin printed a result that is not JSON', errorMessage(e));
  }
}
