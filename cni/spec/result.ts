// The ADD result, held internally in the 1.1.0 shape (a superset of the others), and converted
// on the way out to the version the configuration asked for:
//   1.1.0  everything (route mtu/advmss/priority/table/scope; interface mtu/socketPath/pciID)
//   1.0.0  the same without the 1.1.0 additions
//   0.4.0, 0.3.x  like 1.0.0, plus "version": "4"|"6" on every IP
// Pure functions only.
import { parseCIDR, parseIP } from '../../lib/ip.js';
import { CniError, ErrorCode } from './errors.js';
import { atLeast, requireSupported } from './version.js';

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface CniIPConfig {
  /** CIDR notation: "10.1.0.5/24". */
  address: string;
  gateway?: string;
  /** Index into interfaces; absent in IPAM results. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIPConfig[];
  routes?: CniRoute[];
  dns?: CniDNS;
}

const decodeError = (where: string, reason: string) =>
  new CniError(ErrorCode.DecodeFailure, 'failed to decode result', `${where}: ${reason}`);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function optUint(o: Record<string, unknown>, k: string, where: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    throw decodeError(`${where}.${k}`, `must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

function optStr(o: Record<string, unknown>, k: string, where: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw decodeError(`${where}.${k}`, `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function strList(o: Record<string, unknown>, k: string, where: string): string[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
    throw decodeError(`${where}.${k}`, 'must be a list of strings');
  return v as string[];
}

export function parseDNS(v: unknown, where: string): CniDNS | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw decodeError(where, 'must be an object');
  const d: CniDNS = {};
  const ns = strList(v, 'nameservers', where),
    search = strList(v, 'search', where),
    options = strList(v, 'options', where);
  const domain = optStr(v, 'domain', where);
  if (ns?.length) d.nameservers = ns;
  if (domain) d.domain = domain;
  if (search?.length) d.search = search;
  if (options?.length) d.options = options;
  return Object.keys(d).length ? d : undefined;
}

/** Parse a result of any supported version (a prevResult, or an IPAM plugin's output). */
export function parseResult(v: unknown, where = 'prevResult'): CniResult {
  if (!isObj(v)) throw decodeError(where, 'must be a JSON object');
  const cniVersion = requireSupported(v.cniVersion, `${where}.cniVersion`);
  const r: CniResult = { cniVersion };
  if (v.interfaces !== undefined && v.interfaces !== null) {
    if (!Array.isArray(v.interfaces)) throw decodeError(`${where}.interfaces`, 'must be a list');
    r.interfaces = v.interfaces.map((i, n) => {
      const w = `${where}.interfaces[${n}]`;
      if (!isObj(i) || typeof i.name !== 'string' || i.name === '')
        throw decodeError(w, 'must be an object with a name');
      const out: CniInterface = { name: i.name };
      const mac = optStr(i, 'mac', w),
        sandbox = optStr(i, 'sandbox', w),
        mtu = optUint(i, 'mtu', w);
      const socketPath = optStr(i, 'socketPath', w),
        pciID = optStr(i, 'pciID', w);
      if (mac) out.mac = mac;
      if (mtu) out.mtu = mtu;
      if (sandbox) out.sandbox = sandbox;
      if (socketPath) out.socketPath = socketPath;
      if (pciID) out.pciID = pciID;
      return out;
    });
  }
  if (v.ips !== undefined && v.ips !== null) {
    if (!Array.isArray(v.ips)) throw decodeError(`${where}.ips`, 'must be a list');
    r.ips = v.ips.map((ip, n) => {
      const w = `${where}.ips[${n}]`;
      if (!isObj(ip) || typeof ip.address !== 'string' || !parseCIDR(ip.address))
        throw decodeError(
          `${w}.address`,
          `must be an address in CIDR notation, got ${JSON.stringify(isObj(ip) ? ip.address : ip)}`,
        );
      const out: CniIPConfig = { address: ip.address };
      const gw = optStr(ip, 'gateway', w);
      if (gw) {
        if (!parseIP(gw)) throw decodeError(`${w}.gateway`, `${JSON.stringify(gw)} is not an IP address`);
        out.gateway = gw;
      }
      const idx = optUint(ip, 'interface', w);
      if (idx !== undefined) {
        if (!r.interfaces || idx >= r.interfaces.length)
          throw decodeError(`${w}.interface`, `index ${idx} is not in interfaces`);
        out.interface = idx;
      }
      return out;
    });
  }
  if (v.routes !== undefined && v.routes !== null) {
    if (!Array.isArray(v.routes)) throw decodeError(`${where}.routes`, 'must be a list');
    r.routes = v.routes.map((rt, n) => parseRoute(rt, `${where}.routes[${n}]`, decodeError));
  }
  const dns = parseDNS(v.dns, `${where}.dns`);
  if (dns) r.dns = dns;
  return r;
}

/** A route as written in results and in host-local's "routes" config. */
export function parseRoute(rt: unknown, w: string, err: (where: string, reason: string) => CniError): CniRoute {
  if (!isObj(rt) || typeof rt.dst !== 'string' || !parseCIDR(rt.dst))
    throw err(`${w}.dst`, `must be a destination in CIDR notation, got ${JSON.stringify(isObj(rt) ? rt.dst : rt)}`);
  const out: CniRoute = { dst: rt.dst };
  if (rt.gw !== undefined && rt.gw !== null && rt.gw !== '') {
    if (typeof rt.gw !== 'string' || !parseIP(rt.gw))
      throw err(`${w}.gw`, `${JSON.stringify(rt.gw)} is not an IP address`);
    if (parseIP(rt.gw)!.family !== parseCIDR(rt.dst)!.ip.family)
      throw err(`${w}.gw`, `${rt.gw} is not of the same IP family as ${rt.dst}`);
    out.gw = rt.gw;
  }
  for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
    const v = rt[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      throw err(`${w}.${k}`, `must be a non-negative integer, got ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out;
}

/** The JSON object to print for `version` (which must be a supported one). */
export function formatResult(r: CniResult, version: string): Record<string, unknown> {
  const v11 = atLeast(version, '1.1.0');
  const v1 = atLeast(version, '1.0.0');
  const out: Record<string, unknown> = { cniVersion: version };
  if (r.interfaces?.length) {
    out.interfaces = r.interfaces.map((i) => {
      const o: Record<string, unknown> = { name: i.name };
      if (i.mac) o.mac = i.mac;
      if (v11 && i.mtu) o.mtu = i.mtu;
      if (i.sandbox) o.sandbox = i.sandbox;
      if (v11 && i.socketPath) o.socketPath = i.socketPath;
      if (v11 && i.pciID) o.pciID = i.pciID;
      return o;
    });
  }
  if (r.ips?.length) {
    out.ips = r.ips.map((ip) => {
      const o: Record<string, unknown> = {};
      // 0.3.x/0.4.0 name the family explicitly; 1.0.0 dropped it (it is in the address).
      if (!v1) o.version = parseCIDR(ip.address)!.ip.family === 4 ? '4' : '6';
      o.address = ip.address;
      if (ip.gateway) o.gateway = ip.gateway;
      if (ip.interface !== undefined) o.interface = ip.interface;
      return o;
    });
  }
  if (r.routes?.length) {
    out.routes = r.routes.map((rt) => {
      const o: Record<string, unknown> = { dst: rt.dst };
      if (rt.gw) o.gw = rt.gw;
      if (v11)
        for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) if (rt[k] !== undefined) o[k] = rt[k];
      return o;
    });
  }
  // libcni always writes "dns" (possibly empty) for 0.3.x-1.x; so do we, so byte-level
  // comparisons with reference plugins' output stay meaningful.
  out.dns = r.dns ? { ...r.dns } : {};
  return out;
}
