// kubenode-ipam's CNI commands. Used two ways with identical behaviour: as the kubenode-ipam
// executable (cni/ipam/main.ts), and in-process by kubenode-bridge when ipam.type is
// "kubenode-ipam" (saving one Node.js start per ADD).
import { readFileSync } from 'node:fs';
import { parseCIDR } from '../../lib/ip.js';
import { CniError, ErrorCode, invalidConfig } from '../spec/errors.js';
import type { CniDNS, CniResult } from '../spec/result.js';
import type { CommandContext } from '../skel/skel.js';
import { DEFAULT_DATA_DIR, ipamFiles, parseIpamConfig, requestedIPs, type IpamConfig } from './config.js';
import { allocate, capacityProblem, collect, release, verify, type Attachment } from './ipam.js';
import { parseResolvConf } from './resolv.js';
import { DiskStore } from './store.js';
import { errorMessage } from '../../lib/errors.js';

function ipamSection(ctx: CommandContext): Record<string, unknown> {
  if (!ctx.conf.ipam) throw invalidConfig('ipam', 'missing: kubenode-ipam needs an "ipam" section');
  return ctx.conf.ipam;
}

function readOptional(path: string, field: string, missing: () => CniError): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missing();
    throw new CniError(ErrorCode.IOFailure, `cannot read ${field}`, `${path}: ${errorMessage(e)}`);
  }
}

/** The IPAM configuration with the podCIDR file read. Until the agent has written the file the
 * node has no podCIDR yet: a transient condition, hence "try again later". */
export function loadIpamConfig(ctx: CommandContext, missingCode: number = ErrorCode.TryAgainLater): IpamConfig {
  const ipam = ipamSection(ctx);
  const { podCIDRFile } = ipamFiles(ipam);
  const text = podCIDRFile
    ? readOptional(
        podCIDRFile,
        'ipam.podCIDRFile',
        () =>
          new CniError(
            missingCode,
            'the node has no podCIDR yet',
            `ipam.podCIDRFile ${podCIDRFile} does not exist (the kubenode agent writes it once the Node has spec.podCIDR)`,
          ),
      )
    : undefined;
  return parseIpamConfig(ipam, text);
}

function dnsOf(cfg: IpamConfig): CniDNS | undefined {
  if (!cfg.resolvConf) return undefined;
  return parseResolvConf(
    readOptional(cfg.resolvConf, 'ipam.resolvConf', () =>
      invalidConfig('ipam.resolvConf', `${cfg.resolvConf} does not exist`),
    ),
  );
}

const attachment = (ctx: CommandContext): Attachment => ({ containerId: ctx.env.containerId, ifName: ctx.env.ifName });

/** The store only needs dataDir and the network name, so DEL and GC work even when the range
 * configuration cannot be read (podCIDR file gone, node being torn down). */
function storeOf(ctx: CommandContext): DiskStore {
  const dataDir = ipamSection(ctx).dataDir;
  if (
    dataDir !== undefined &&
    dataDir !== null &&
    dataDir !== '' &&
    (typeof dataDir !== 'string' || !dataDir.startsWith('/'))
  ) {
    throw invalidConfig('ipam.dataDir', `${JSON.stringify(dataDir)} must be an absolute path`);
  }
  return new DiskStore((dataDir as string) || DEFAULT_DATA_DIR, ctx.conf.name);
}

export function ipamAdd(ctx: CommandContext): { result: CniResult; created: boolean } {
  const cfg = loadIpamConfig(ctx);
  const requested = requestedIPs(ctx.env.args, ctx.conf.args, ctx.conf.runtimeConfig);
  return allocate(storeOf(ctx), cfg, attachment(ctx), requested, ctx.conf.cniVersion, dnsOf(cfg));
}

export function ipamDel(ctx: CommandContext): void {
  release(storeOf(ctx), attachment(ctx));
}

export function ipamCheck(ctx: CommandContext): void {
  const cfg = loadIpamConfig(ctx, ErrorCode.Internal);
  const expected = (ctx.conf.prevResult?.ips ?? []).map((i) => parseCIDR(i.address)!.ip);
  verify(storeOf(ctx), cfg, attachment(ctx), expected);
}

/** The spec's GC input: "cni.dev/valid-attachments": [{containerID, ifname}]. */
export function validAttachments(raw: Record<string, unknown>): Attachment[] {
  const v = raw['cni.dev/valid-attachments'];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalidConfig('cni.dev/valid-attachments', 'must be a list of {containerID, ifname}');
  return v.map((a, i) => {
    if (typeof a !== 'object' || a === null || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw invalidConfig(
        `cni.dev/valid-attachments[${i}]`,
        'must be an object with string "containerID" and "ifname"',
      );
    }
    return { containerId: a.containerID, ifName: a.ifname };
  });
}

export function ipamGc(ctx: CommandContext): number {
  return collect(storeOf(ctx), validAttachments(ctx.conf.raw)).length;
}

export function ipamStatus(ctx: CommandContext): void {
  const cfg = loadIpamConfig(ctx, ErrorCode.NotAvailable);
  const problem = capacityProblem(storeOf(ctx), cfg);
  if (problem) throw new CniError(ErrorCode.NotAvailable, 'no free IP address', problem);
}
