// Settings' values as they come, from the command line (strings) or a --config file (YAML), turned
// into the agent's settings by kind, and KubeletConfiguration's nested authentication settings
// flattened. A bad value is a ConfigError naming the flag or setting.
import { parseDuration } from './duration.js';
import { statementsOf } from './eviction-flags.js';
import { errorMessage } from '../../lib/errors.js';

/** How a flag's value is read. */
export type Kind = 'string' | 'int' | 'duration' | 'list' | 'headers' | 'bool' | 'map';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** One flag's or setting's raw value (a command-line string, or YAML) as its kind says, into `into[flag.key]`. */
export function convert<K extends string>(
  flag: { key: K; kind: Kind; allowEmpty?: boolean },
  raw: unknown,
  where: string,
  into: Partial<Record<K, unknown>>,
): void {
  const fail = (why: string) => {
    throw new ConfigError(`${where}: ${why}`);
  };
  switch (flag.kind) {
    case 'string':
      if (typeof raw !== 'string' || (raw === '' && !flag.allowEmpty)) fail('expected a non-empty string');
      into[flag.key] = raw;
      return;
    case 'int': {
      const n =
        typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isInteger(n)) fail(`expected an integer, got ${JSON.stringify(raw)}`);
      into[flag.key] = n;
      return;
    }
    case 'duration':
      try {
        into[flag.key] = typeof raw === 'number' ? raw * 1000 : parseDuration(String(raw));
      } catch (e) {
        fail(errorMessage(e));
      }
      return;
    case 'list':
      into[flag.key] = (Array.isArray(raw) ? raw.map(String) : String(raw).split(','))
        .map((s) => s.trim())
        .filter(Boolean);
      return;
    case 'bool':
      if (typeof raw === 'boolean') into[flag.key] = raw;
      else if (typeof raw === 'string' && /^(true|false|1|0)$/i.test(raw.trim()))
        into[flag.key] = /^(true|1)$/i.test(raw.trim());
      else fail(`expected true or false, got ${JSON.stringify(raw)}`);
      return;
    case 'map': // kubelet's "key<value,..." (--eviction-hard), or a mapping in --config
      try {
        into[flag.key] = statementsOf(raw);
      } catch (e) {
        fail(errorMessage(e));
      }
      return;
    case 'headers': {
      const out = { ...(into[flag.key] as Record<string, string> | undefined) };
      if (typeof raw === 'string') {
        const i = raw.indexOf(':');
        if (i <= 0) fail(`expected 'Name:value', got ${JSON.stringify(raw)}`);
        out[raw.slice(0, i).trim()] = raw.slice(i + 1).trim();
      } else if (raw && typeof raw === 'object') {
        // KubeletConfiguration's staticPodURLHeader is a map of name to a list of values.
        for (const [k, v] of Object.entries(raw)) out[k] = Array.isArray(v) ? v.join(',') : String(v);
      } else fail('expected headers');
      into[flag.key] = out;
      return;
    }
  }
}

/**
 * KubeletConfiguration nests the node API's security settings: authentication.x509.clientCAFile,
 * authentication.anonymous.enabled, authentication.webhook.enabled, authorization.mode. They
 * become the flat settings here; other nested keys are refused by name.
 */
export function flattenAuth(doc: Record<string, unknown>, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = { ...doc };
  const obj = (v: unknown, where: string): Record<string, unknown> => {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v))
      throw new ConfigError(`--config ${path}: ${where}: expected a mapping`);
    return v as Record<string, unknown>;
  };
  if ('authentication' in doc) {
    delete out.authentication;
    const a = obj(doc.authentication, 'authentication');
    for (const k of Object.keys(a))
      if (!['x509', 'anonymous', 'webhook'].includes(k))
        throw new ConfigError(`--config ${path}: unknown setting "authentication.${k}"`);
    const x509 = obj(a.x509, 'authentication.x509');
    if (x509.clientCAFile !== undefined) out.clientCAFile = x509.clientCAFile;
    const anon = obj(a.anonymous, 'authentication.anonymous');
    if (anon.enabled !== undefined) out.anonymousAuth = anon.enabled;
    const hook = obj(a.webhook, 'authentication.webhook');
    if (hook.enabled !== undefined) out.authenticationTokenWebhook = hook.enabled;
  }
  if ('authorization' in doc) {
    delete out.authorization;
    const z = obj(doc.authorization, 'authorization');
    if (z.mode !== undefined) out.authorizationMode = z.mode;
  }
  return out;
}
