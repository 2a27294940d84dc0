// Finding and reading the node's CNI network configuration, as libcni does for kubelet and
// containerd: the files in confDir ending in .conflist, .conf or .json, in lexical order; the
// first valid one wins (.conf/.json hold one plugin configuration and are wrapped into a list).
// Invalid files are skipped and reported, so one broken file does not take the node's network
// down. Also the version the runtime speaks with the plugins (SPEC.md "Version considerations":
// the highest of cniVersion/cniVersions that we support).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../lib/errors.js';

export const RUNTIME_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

export interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

export interface NetworkConfigList {
  name: string;
  /** The version selected for this runtime. */
  cniVersion: string;
  disableCheck: boolean;
  disableGC: boolean;
  plugins: PluginConf[];
  /** The file it came from, and the parsed JSON as written (cached for DEL). */
  file: string;
  raw: Record<string, unknown>;
}

export interface SkippedFile {
  file: string;
  reason: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number),
    pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) < (pb[i] ?? 0) ? -1 : 1;
  return 0;
}

/** Parse one configuration file's JSON. Pure; throws Error naming the field and reason. */
export function parseConfig(file: string, raw: unknown): NetworkConfigList {
  if (!isObj(raw)) throw new Error('not a JSON object');
  const isList = file.endsWith('.conflist');
  const plugins = isList ? raw.plugins : [raw];
  if (isList && (!Array.isArray(plugins) || plugins.length === 0))
    throw new Error('"plugins": must be a non-empty list');
  const list = plugins as unknown[];
  list.forEach((p, i) => {
    if (!isObj(p) || typeof p.type !== 'string' || p.type === '' || /[/\\]/.test(p.type)) {
      throw new Error(`plugins[${i}].type: must name a plugin executable`);
    }
    if (p.capabilities !== undefined && !isObj(p.capabilities))
      throw new Error(`plugins[${i}].capabilities: must be an object`);
  });
  if (typeof raw.name !== 'string' || !NAME.test(raw.name))
    throw new Error(
      `"name": ${JSON.stringify(raw.name)} must start with a letter or digit and contain only letters, digits, "_", "." and "-"`,
    );
  const offered = [
    ...(typeof raw.cniVersion === 'string' ? [raw.cniVersion] : []),
    ...(Array.isArray(raw.cniVersions) ? raw.cniVersions.filter((v): v is string => typeof v === 'string') : []),
  ];
  if (!offered.length) throw new Error('"cniVersion": missing');
  const usable = offered.filter((v) => RUNTIME_VERSIONS.includes(v)).sort(compareVersions);
  if (!usable.length)
    throw new Error(`"cniVersion": ${offered.join(', ')} not supported (supported: ${RUNTIME_VERSIONS.join(', ')})`);
  return {
    name: raw.name,
    cniVersion: usable[usable.length - 1]!,
    disableCheck: raw.disableCheck === true,
    disableGC: raw.disableGC === true,
    plugins: list as PluginConf[],
    file,
    raw,
  };
}

export async function loadNetwork(confDir: string): Promise<{ network?: NetworkConfigList; skipped: SkippedFile[] }> {
  const skipped: SkippedFile[] = [];
  let names: string[];
  try {
    names = await readdir(confDir);
  } catch (e) {
    return { skipped: [{ file: confDir, reason: errorMessage(e) }] };
  }
  for (const name of names.filter((n) => /\.(conflist|conf|json)$/.test(n)).sort()) {
    const file = join(confDir, name);
    try {
      const text = await readFile(file, 'utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        throw new Error(`not valid JSON: ${errorMessage(e)}`);
      }
      return { network: parseConfig(file, json), skipped };
    } catch (e) {
      skipped.push({ file, reason: errorMessage(e) });
    }
  }
  return { skipped };
}

/**
 * No CNI configuration file at all (not an invalid one): a node whose pod network is not set up
 * (yet). Pods that need the network fail with it; a GC pass has nothing to collect.
 */
export class NoNetworkConfigError extends Error {}

/** What to tell a person when there is no usable configuration. */
export function noNetworkMessage(confDir: string, skipped: SkippedFile[]): string {
  if (!skipped.length) return `no CNI network configuration (*.conflist, *.conf, *.json) in ${confDir}`;
  return `no valid CNI network configuration in ${confDir}: ${skipped.map((s) => `${s.file}: ${s.reason}`).join('; ')}`;
}
