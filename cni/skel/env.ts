// The CNI_* environment of one plugin invocation, validated per command as SPEC.md section 2
// requires (which variables each command needs). Pure: takes the environment as an argument.
import { CniError, ErrorCode } from '../spec/errors.js';

export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'] as const;
export type Command = (typeof COMMANDS)[number];

export interface PluginEnv {
  command: Command;
  containerId: string;
  /** Path of the pod's network namespace; '' when not given (allowed for DEL). */
  netns: string;
  ifName: string;
  /** CNI_ARGS as key/value pairs ("IgnoreUnknown=1;K8S_POD_NAME=web-0"). */
  args: Record<string, string>;
  /** CNI_PATH split into directories. */
  path: string[];
}

const invalidEnv = (name: string, reason: string) =>
  new CniError(ErrorCode.InvalidEnvironment, `invalid environment variable ${name}`, `${name}: ${reason}`);

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Linux interface name rules, as the spec restates them. */
export function ifNameProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name === '.' || name === '..') return 'must not be "." or ".."';
  if (Buffer.byteLength(name) > 15) return `"${name}" is longer than 15 bytes`;
  if (/[/:\s]/.test(name)) return `"${name}" must not contain "/", ":" or whitespace`;
  return undefined;
}

export function parseCniArgs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!s) return out;
  for (const pair of s.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalidEnv('CNI_ARGS', `"${pair}" is not KEY=VALUE (pairs are separated by ";")`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

export function parseEnv(env: NodeJS.ProcessEnv): PluginEnv {
  const raw = env.CNI_COMMAND ?? '';
  if (!raw) throw invalidEnv('CNI_COMMAND', `is not set (one of ${COMMANDS.join(', ')})`);
  if (!(COMMANDS as readonly string[]).includes(raw))
    throw invalidEnv('CNI_COMMAND', `unknown command "${raw}" (one of ${COMMANDS.join(', ')})`);
  const command = raw as Command;
  const needs = (name: string, cmds: Command[]) => cmds.includes(command) && !env[name];
  const missing = [
    needs('CNI_CONTAINERID', ['ADD', 'DEL', 'CHECK']) && 'CNI_CONTAINERID',
    needs('CNI_NETNS', ['ADD', 'CHECK']) && 'CNI_NETNS',
    needs('CNI_IFNAME', ['ADD', 'DEL', 'CHECK']) && 'CNI_IFNAME',
  ].filter(Boolean) as string[];
  if (missing.length) {
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      `required environment variables missing: ${missing.join(', ')}`,
      `${command} needs ${missing.join(', ')}`,
    );
  }
  const containerId = env.CNI_CONTAINERID ?? '';
  if (containerId && !CONTAINER_ID.test(containerId)) {
    throw invalidEnv(
      'CNI_CONTAINERID',
      `"${containerId}" must start with a letter or digit and contain only letters, digits, "_", "." and "-"`,
    );
  }
  const ifName = env.CNI_IFNAME ?? '';
  if (ifName) {
    const p = ifNameProblem(ifName);
    if (p) throw invalidEnv('CNI_IFNAME', p);
  }
  return {
    command,
    containerId,
    netns: env.CNI_NETNS ?? '',
    ifName,
    args: parseCniArgs(env.CNI_ARGS ?? ''),
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
  };
}
