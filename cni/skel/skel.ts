// The entry dispatcher every kubenode CNI plugin shares (the shape of libcni's pkg/skel): read the
// environment and stdin, validate, run the one command asked for, print the result or the spec's
// error JSON on stdout. Command implementations are loaded only when needed, because a plugin is
// a fresh process per call and everything it loads is latency (see bench/cni-latency).
//
// stdout/stderr are written with fs.writeSync rather than process.stdout: touching process.stdout
// on a pipe loads Node's net/stream machinery, a few milliseconds we do not need.
import { readSync, writeSync } from 'node:fs';
import { asCniError, CniError, ErrorCode } from '../spec/errors.js';
import { formatResult, type CniResult } from '../spec/result.js';
import { LATEST, SUPPORTED_VERSIONS } from '../spec/version.js';
import { parseEnv, type Command, type PluginEnv } from './env.js';
import { aboutText, usageText } from './help.js';
import { decodeJSON, parseNetConf, versionForErrors, type NetConf } from './netconf.js';
import { trace } from './trace.js';
import { errorMessage } from '../../lib/errors.js';

export interface CommandContext {
  env: PluginEnv;
  conf: NetConf;
}

export type Handler = (ctx: CommandContext) => Promise<CniResult | void>;

export interface PluginCommands {
  add: () => Promise<Handler>;
  del: () => Promise<Handler>;
  check: () => Promise<Handler>;
  status: () => Promise<Handler>;
  gc: () => Promise<Handler>;
}

export interface PluginIO {
  env: NodeJS.ProcessEnv;
  stdin: () => Buffer;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  /** The command line arguments: a runtime passes none; a person may pass --help. */
  argv?: readonly string[];
}

export function readAllStdin(): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.allocUnsafe(65536);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A non-blocking stdin (some runtimes hand one over) says "not yet" rather than waiting.
      if (code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      if (code === 'EOF' || code === 'EBADF') break;
      throw new CniError(ErrorCode.IOFailure, 'failed to read the network configuration from stdin', errorMessage(e));
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}

export const processIO: PluginIO = {
  env: process.env,
  stdin: readAllStdin,
  stdout: (s) => writeSync(1, s),
  stderr: (s) => writeSync(2, s),
  argv: process.argv.slice(2),
};

const handlerFor = (c: PluginCommands, cmd: Exclude<Command, 'VERSION'>) =>
  ({ ADD: c.add, DEL: c.del, CHECK: c.check, STATUS: c.status, GC: c.gc })[cmd];

/**
 * Run one invocation; returns the process exit code (0 success, 1 error as libcni's skel does).
 * `about` is the one line a person sees when running the plugin by hand (see help.ts).
 */
export async function runPlugin(
  plugin: string,
  commands: PluginCommands,
  io: PluginIO = processIO,
  about = 'a CNI plugin',
): Promise<number> {
  if (io.argv?.some((a) => a === '--help' || a === '-h')) {
    io.stdout(usageText(plugin, about));
    return 0;
  }
  if (!io.env.CNI_COMMAND) {
    io.stderr(aboutText(plugin, about));
    return 0;
  }
  let raw: Record<string, unknown> | undefined;
  let version = LATEST;
  trace('plugin code running');
  try {
    // stdin first, so that even an error about the environment is answered in the version the
    // configuration speaks.
    const bytes = io.stdin();
    try {
      raw = decodeJSON(bytes);
    } catch {
      /* parseNetConf reports it */
    }
    version = versionForErrors(raw);
    const env = parseEnv(io.env);
    if (env.command === 'VERSION') {
      // The input may be empty for VERSION; answer in the version we were asked in, any version.
      const v = raw?.cniVersion;
      version = typeof v === 'string' && /^\d+\.\d+\.\d+$/.test(v) ? v : LATEST;
      io.stdout(JSON.stringify({ cniVersion: version, supportedVersions: SUPPORTED_VERSIONS }));
      return 0;
    }
    const conf = parseNetConf(bytes, env.command);
    const handler = await handlerFor(commands, env.command)();
    trace(`${env.command} loaded`);
    const result = await handler({ env, conf });
    trace(`${env.command} done`);
    if (env.command === 'ADD') {
      if (!result) throw new CniError(ErrorCode.Internal, `${plugin}: ADD produced no result`);
      io.stdout(JSON.stringify(formatResult(result, conf.cniVersion)));
    }
    return 0;
  } catch (e) {
    const err = asCniError(e);
    io.stdout(JSON.stringify(err.toJSON(version)));
    if (err.code === ErrorCode.Internal && e instanceof Error && e.stack && io.env.KUBENODE_LOG_LEVEL === 'debug')
      io.stderr(`${plugin}: ${e.stack}\n`);
    return 1;
  }
}
