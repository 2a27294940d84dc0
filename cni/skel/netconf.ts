// The network configuration on stdin: the fields every plugin shares (SPEC.md section 1 and 3:
// cniVersion, name, type, prevResult, runtimeConfig, args, ipam, dns). Plugin-specific fields are
// read by each plugin from `raw`. Pure.
import { CniError, ErrorCode, invalidConfig } from '../spec/errors.js';
import { parseDNS, parseResult, type CniDNS, type CniResult } from '../spec/result.js';
import { atLeast, LATEST, requireSupported, SUPPORTED_VERSIONS } from '../spec/version.js';
import type { Command } from './env.js';
import { errorMessage } from '../../lib/errors.js';

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  raw: Record<string, unknown>;
  /** The exact bytes received: delegated plugins get the same configuration. */
  bytes: Buffer;
  prevResult?: CniResult;
  runtimeConfig: Record<string, unknown>;
  args: Record<string, unknown>;
  ipam?: Record<string, unknown> & { type: string };
  dns?: CniDNS;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function decodeJSON(bytes: Buffer | string, what = 'network configuration'): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString());
  } catch (e) {
    throw new CniError(
      ErrorCode.DecodeFailure,
      `failed to decode ${what}`,
      `stdin is not valid JSON: ${errorMessage(e)}`,
    );
  }
  if (!isObj(v))
    throw new CniError(ErrorCode.DecodeFailure, `failed to decode ${what}`, 'stdin must hold a JSON object');
  return v;
}

/** The version to answer in, even for a configuration that fails to parse further. */
export function versionForErrors(raw: Record<string, unknown> | undefined): string {
  const v = raw?.cniVersion;
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v) ? v : LATEST;
}

export function parseNetConf(bytes: Buffer, command: Command): NetConf {
  const raw = decodeJSON(bytes);
  const cniVersion = requireSupported(raw.cniVersion);
  if (command === 'CHECK' && !atLeast(cniVersion, '0.4.0')) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      'incompatible CNI version',
      `CHECK needs cniVersion 0.4.0 or later, the configuration says ${cniVersion}`,
    );
  }
  if ((command === 'STATUS' || command === 'GC') && !atLeast(cniVersion, '1.1.0')) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      'incompatible CNI version',
      `${command} needs cniVersion 1.1.0, the configuration says ${cniVersion}`,
    );
  }
  if (typeof raw.name !== 'string' || !NETWORK_NAME.test(raw.name)) {
    throw invalidConfig(
      'name',
      `${JSON.stringify(raw.name)} must start with a letter or digit and contain only letters, digits, "_", "." and "-"`,
    );
  }
  if (typeof raw.type !== 'string' || raw.type === '' || /[/\\]/.test(raw.type)) {
    throw invalidConfig('type', `${JSON.stringify(raw.type)} must name a plugin executable`);
  }
  const conf: NetConf = {
    cniVersion,
    name: raw.name,
    type: raw.type,
    raw,
    bytes,
    runtimeConfig: isObj(raw.runtimeConfig) ? raw.runtimeConfig : {},
    args: isObj(raw.args) ? raw.args : {},
  };
  if (raw.ipam !== undefined && raw.ipam !== null) {
    if (!isObj(raw.ipam)) throw invalidConfig('ipam', 'must be an object');
    if (raw.ipam.type !== undefined && (typeof raw.ipam.type !== 'string' || /[/\\]/.test(raw.ipam.type))) {
      throw invalidConfig('ipam.type', `${JSON.stringify(raw.ipam.type)} must name an IPAM plugin executable`);
    }
    if (typeof raw.ipam.type === 'string' && raw.ipam.type !== '') conf.ipam = raw.ipam as NetConf['ipam'];
  }
  try {
    const dns = parseDNS(raw.dns, 'dns');
    if (dns) conf.dns = dns;
  } catch (e) {
    throw invalidConfig('dns', (e as CniError).details || errorMessage(e));
  }
  if (raw.prevResult !== undefined && raw.prevResult !== null)
    conf.prevResult = parseResult(raw.prevResult, 'prevResult');
  return conf;
}
