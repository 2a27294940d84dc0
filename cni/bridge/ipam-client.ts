// IPAM for the bridge plugin, as SPEC.md section 4 ("Plugin Delegation") describes: the plugin
// named by ipam.type is found in CNI_PATH and run with our environment and the same stdin; its
// stderr goes to ours. When ipam.type is kubenode-ipam the same code runs in-process instead
// (one Node.js start less per ADD); KUBENODE_CNI_IPAM_EXEC=1 forces the executable.
import { accessSync, constants, writeSync } from 'node:fs';
import { join } from 'node:path';
import { runSync } from '../link/exec.js';
import type { CommandContext } from '../skel/skel.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import { parseResult, type CniResult } from '../spec/result.js';
import type { Command } from '../skel/env.js';
import { errorMessage } from '../../lib/errors.js';

export interface IpamClient {
  type: string;
  inProcess: boolean;
  /** `created` is false when the attachment already held its addresses (nothing to roll back). */
  add(): Promise<{ result: CniResult; created: boolean }>;
  del(): Promise<void>;
  check(): Promise<void>;
  status(): Promise<void>;
  gc(): Promise<void>;
}

export const KUBENODE_IPAM = 'kubenode-ipam';

export function findPlugin(type: string, path: string[]): string {
  if (path.length === 0) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      'invalid environment variable CNI_PATH',
      `CNI_PATH is empty, so the IPAM plugin "${type}" cannot be found`,
    );
  }
  for (const dir of path) {
    const p = join(dir, type);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next directory */
    }
  }
  throw new CniError(
    ErrorCode.Internal,
    `IPAM plugin "${type}" not found`,
    `no executable ${type} in CNI_PATH ${path.join(':')}`,
  );
}

function execIpam(ctx: CommandContext, type: string, command: Command): CniResult | undefined {
  const file = findPlugin(type, ctx.env.path);
  const r = runSync(file, [], {
    input: ctx.conf.bytes,
    env: { ...process.env, CNI_COMMAND: command },
    allowFailure: true,
  });
  if (r.stderr) writeSync(2, r.stderr);
  const out = r.stdout.trim();
  if (r.code !== 0) {
    let e: { code?: unknown; msg?: unknown; details?: unknown } | undefined;
    try {
      e = JSON.parse(out);
    } catch {
      /* not the error JSON */
    }
    if (e && typeof e.code === 'number') {
      throw new CniError(
        e.code,
        `IPAM plugin ${type}: ${String(e.msg ?? 'failed')}`,
        typeof e.details === 'string' ? e.details : '',
      );
    }
    throw new CniError(
      ErrorCode.Internal,
      `IPAM plugin ${type} failed (${command}, exit ${r.code})`,
      (out || r.stderr).trim().slice(0, 2000),
    );
  }
  if (command !== 'ADD') return undefined;
  let json: unknown;
  try {
    json = JSON.parse(out);
  } catch (e) {
    throw new CniError(ErrorCode.DecodeFailure, `failed to decode the result of IPAM plugin ${type}`, errorMessage(e));
  }
  return parseResult(json, `result of IPAM plugin ${type}`);
}

export function ipamClient(ctx: CommandContext): IpamClient | undefined {
  const type = ctx.conf.ipam?.type;
  if (!type) return undefined;
  if (type === KUBENODE_IPAM && process.env.KUBENODE_CNI_IPAM_EXEC !== '1') {
    const load = () => import('../ipam/commands.js');
    return {
      type,
      inProcess: true,
      add: async () => (await load()).ipamAdd(ctx),
      del: async () => {
        (await load()).ipamDel(ctx);
      },
      check: async () => {
        (await load()).ipamCheck(ctx);
      },
      status: async () => {
        (await load()).ipamStatus(ctx);
      },
      gc: async () => {
        (await load()).ipamGc(ctx);
      },
    };
  }
  return {
    type,
    inProcess: false,
    // A delegated plugin may or may not have allocated anew; the spec says to DEL it on rollback.
    add: async () => ({ result: execIpam(ctx, type, 'ADD')!, created: true }),
    del: async () => {
      execIpam(ctx, type, 'DEL');
    },
    check: async () => {
      execIpam(ctx, type, 'CHECK');
    },
    status: async () => {
      execIpam(ctx, type, 'STATUS');
    },
    gc: async () => {
      execIpam(ctx, type, 'GC');
    },
  };
}
