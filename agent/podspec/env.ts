// A container's environment as Kubernetes defines it: `value` with $(VAR) references to variables
// defined before it, and `valueFrom` through the downward API (fieldRef, resourceFieldRef). The
// same expansion applies to command and args. ConfigMap and Secret values (env valueFrom and
// envFrom) come from objects fetched beforehand (env-objects.ts), so resolving stays pure.
// A missing ConfigMap or Secret is kubelet's CreateContainerConfigError with its message
// (`configmap "x" not found`): the pod stays Pending with that waiting reason, not
// ContainerCreating, because upstream kubelet reports env failures this way, and upstream wins.
// https://kubernetes.io/docs/tasks/inject-data-application/define-interdependent-environment-variables/
import type { V1ConfigMap, V1Container, V1EnvVarSource, V1Pod, V1Secret } from '@kubernetes/client-node';
import { parseQuantity, quantityMilliValue, quantityValue } from '../../lib/quantity.js';

export interface EnvContext {
  pod: V1Pod;
  podIPs: string[];
  hostIPs: string[];
  /** Used for resourceFieldRef of a limit the container does not set (kubelet uses node allocatable). */
  nodeCpuMilli: number;
  nodeMemoryBytes: number;
  /**
   * Service variables (service-env.ts): `$(VAR)` in env values may refer to them, and each is
   * added unless the container defines that name itself, as kubelet's makeEnvironmentVariables.
   */
  serviceEnv?: ReadonlyMap<string, string>;
}

/** A container that cannot be configured: kubelet's CreateContainerConfigError. */
export class ContainerConfigError extends Error {
  /**
   * `bare`: the message is the reason alone, worded as kubelet words it (the field is still recorded).
   * `retryAfterMs`: when the condition is expected to clear soon by itself, the next try sooner than the usual 10 s.
   */
  constructor(
    readonly field: string,
    reason: string,
    readonly bare = false,
    readonly retryAfterMs?: number,
  ) {
    super(bare ? reason : `${field}: ${reason}`);
    this.name = 'ContainerConfigError';
  }
}

/** ConfigMaps and Secrets the container's env refers to, by name (undefined: does not exist). */
export interface EnvObjects {
  configMaps: Map<string, V1ConfigMap | undefined>;
  secrets: Map<string, V1Secret | undefined>;
}

export const NO_ENV_OBJECTS: EnvObjects = { configMaps: new Map(), secrets: new Map() };

/** The ConfigMap and Secret names a container's env and envFrom refer to, with whether every use is optional. */
export function envRefs(c: V1Container): { configMaps: Map<string, boolean>; secrets: Map<string, boolean> } {
  const configMaps = new Map<string, boolean>();
  const secrets = new Map<string, boolean>();
  const add = (m: Map<string, boolean>, name: string | undefined, optional: boolean | undefined) =>
    m.set(name ?? '', (m.get(name ?? '') ?? true) && (optional ?? false));
  for (const e of c.envFrom ?? []) {
    if (e.configMapRef) add(configMaps, e.configMapRef.name, e.configMapRef.optional);
    if (e.secretRef) add(secrets, e.secretRef.name, e.secretRef.optional);
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom?.configMapKeyRef)
      add(configMaps, e.valueFrom.configMapKeyRef.name, e.valueFrom.configMapKeyRef.optional);
    if (e.valueFrom?.secretKeyRef) add(secrets, e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.optional);
  }
  return { configMaps, secrets };
}

/**
 * Kubernetes' relaxed rule for environment variable names (RelaxedEnvironmentVariableValidation,
 * GA in 1.34, apimachinery's IsRelaxedEnvVarName): not empty, printable ASCII only, no '='. It
 * replaced the C-identifier rule, so envFrom keys such as `1-data-1` or `$_-data-1` are kept.
 * Kubelet 1.34 no longer checks envFrom keys at all (the apiserver checks prefixes and ConfigMap
 * keys); the agent still skips a name that fails this rule, with a log line, since its static pods
 * are not validated by an apiserver and Docker cannot carry a name with '='.
 */
export function isEnvVarName(name: string): boolean {
  return /^[\x20-\x3c\x3e-\x7e]+$/.test(name);
}

/** The apiserver's message for a name that fails isEnvVarName. */
export const ENV_VAR_NAME_RULE =
  "a valid environment variable name must consist only of printable ASCII characters other than '='";

function configMapStrings(cm: V1ConfigMap): Record<string, string> {
  return { ...(cm.data ?? {}) };
}

function secretStrings(s: V1Secret): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
  for (const [k, v] of Object.entries(s.stringData ?? {})) out[k] = v;
  return out;
}

/**
 * Expand $(NAME) from `vars`: "$$" escapes a dollar; a reference to an undefined name is left as
 * written, as Kubernetes does.
 */
export function expand(input: string, vars: ReadonlyMap<string, string>): string {
  return expandWith(input, (name) => (vars.has(name) ? vars.get(name)! : `$(${name})`));
}

/**
 * The $(NAME) syntax of Kubernetes' third_party/forked/golang/expansion: each complete $(NAME) is
 * replaced by `lookup(NAME)`, "$$" is one dollar, anything else (a lone "$", "$(" without its
 * ")") stays as written.
 */
export function expandWith(input: string, lookup: (name: string) => string): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i]!;
    if (ch !== '$' || i + 1 >= input.length) {
      out += ch;
      continue;
    }
    const next = input[i + 1]!;
    if (next === '$') {
      out += '$';
      i++;
      continue;
    }
    if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) {
        out += '$(';
        i++;
        continue;
      } // incomplete: kept, and the rest still parsed
      out += lookup(input.slice(i + 2, close));
      i = close;
      continue;
    }
    out += ch + next;
    i++;
  }
  return out;
}

/** A downward API fieldRef's value (env and downwardAPI volumes share it). */
export function fieldValue(path: string, ctx: Pick<EnvContext, 'pod' | 'podIPs' | 'hostIPs'>): string {
  const md = ctx.pod.metadata ?? {};
  const m = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? md.labels : md.annotations)?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name':
      return md.name ?? '';
    case 'metadata.namespace':
      return md.namespace ?? '';
    case 'metadata.uid':
      return md.uid ?? '';
    case 'spec.nodeName':
      return ctx.pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return ctx.pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
      return ctx.podIPs[0] ?? '';
    case 'status.podIPs':
      return ctx.podIPs.join(',');
    case 'status.hostIP':
      return ctx.hostIPs[0] ?? '';
    case 'status.hostIPs':
      return ctx.hostIPs.join(',');
  }
  throw new ContainerConfigError('fieldRef.fieldPath', `unsupported field path ${JSON.stringify(path)}`);
}

/**
 * resourceFieldRef: the container's request or limit divided by the divisor, rounded up, as
 * kubelet's ExtractContainerResourceValue (pkg/api/v1/resource/helpers.go): CPU in millicores
 * divided by the divisor's millicores, everything else in whole units (bytes). A zero divisor is
 * the API's default (unset) and means 1. An unset limit of CPU or memory is the node's
 * allocatable, as kubelet's defaultPodLimitsForDownwardAPI; an unset request is 0.
 */
export function resourceValue(
  c: V1Container,
  resource: string,
  divisor: string | number | undefined,
  ctx: Pick<EnvContext, 'nodeCpuMilli' | 'nodeMemoryBytes'>,
): string {
  const dot = resource.indexOf('.');
  const kind = resource.slice(0, dot) as 'limits' | 'requests';
  const name = resource.slice(dot + 1);
  let q: string | number | undefined = c.resources?.[kind]?.[name] as string | number | undefined;
  if (q === undefined && kind === 'limits')
    q = name === 'cpu' ? `${ctx.nodeCpuMilli}m` : name === 'memory' ? ctx.nodeMemoryBytes : undefined;
  let d = parseQuantity(divisor ?? 0);
  if (d.numerator === 0n) d = parseQuantity(1);
  const v = parseQuantity(q ?? 0);
  const ratio = name === 'cpu' ? quantityMilliValue(v) / quantityMilliValue(d) : quantityValue(v) / quantityValue(d);
  return String(Math.ceil(ratio));
}

/**
 * A ConfigMap's or Secret's data as strings; undefined when it is missing and the reference is
 * optional; a missing required one is kubelet's CreateContainerConfigError (`configmap "x" not found`).
 */
function sourceData(
  objects: EnvObjects,
  kind: 'configmap' | 'secret',
  name: string,
  optional: boolean | undefined,
  at: string,
): Record<string, string> | undefined {
  const o = kind === 'configmap' ? objects.configMaps.get(name) : objects.secrets.get(name);
  if (o) return kind === 'configmap' ? configMapStrings(o as V1ConfigMap) : secretStrings(o as V1Secret);
  if (optional) return undefined;
  throw new ContainerConfigError(at, `${kind} "${name}" not found`, true);
}

export interface ResolvedEnv {
  env: { name: string; value: string }[];
  /** envFrom keys that are not valid variable names, skipped as kubelet skips them (one line per source). */
  skipped: string[];
}

/**
 * The container's environment, as kubelet's makeEnvironmentVariables: envFrom sources first (in
 * order, each key with the source's prefix), then env entries, which may refer to any variable
 * defined before them with $(NAME). `objects` holds the ConfigMaps and Secrets already fetched.
 */
export function resolveContainerEnv(
  c: V1Container,
  ctx: EnvContext,
  field: string,
  objects: EnvObjects = NO_ENV_OBJECTS,
): ResolvedEnv {
  const vars = new Map<string, string>();
  const out: { name: string; value: string }[] = [];
  const skipped: string[] = [];
  const services = ctx.serviceEnv ?? new Map<string, string>();
  // The container's own variables first, then the services' (kubelet's MappingFuncFor(tmpEnv, serviceEnv)).
  const lookup = (name: string) => vars.get(name) ?? services.get(name) ?? `$(${name})`;
  const ns = ctx.pod.metadata?.namespace ?? '';
  (c.envFrom ?? []).forEach((src, i) => {
    const ref = src.configMapRef ?? src.secretRef;
    if (!ref) throw new ContainerConfigError(`${field}.envFrom[${i}]`, 'neither configMapRef nor secretRef is set');
    const kind = src.configMapRef ? 'configmap' : 'secret';
    const name = ref.name ?? '';
    const data = sourceData(
      objects,
      kind,
      name,
      ref.optional,
      `${field}.envFrom[${i}].${src.configMapRef ? 'configMapRef' : 'secretRef'}`,
    );
    if (!data) return;
    const what = `${src.configMapRef ? 'configMap' : 'secret'} ${ns}/${name}`;
    const invalid: string[] = [];
    for (const k of Object.keys(data).sort()) {
      const name = (src.prefix ?? '') + k;
      if (!isEnvVarName(name)) {
        invalid.push(name);
        continue;
      }
      vars.set(name, data[k]!);
      out.push({ name, value: data[k]! });
    }
    if (invalid.length)
      skipped.push(
        `keys [${invalid.join(', ')}] from the EnvFrom ${what} were skipped since they are not valid environment variable names`,
      );
  });
  for (const [i, e] of (c.env ?? []).entries()) {
    const value = e.valueFrom
      ? envVarSourceValue(c, e.valueFrom, `${field}.env[${i}].valueFrom`, ctx, objects)
      : expandWith(e.value ?? '', lookup);
    if (value === undefined) continue;
    vars.set(e.name, value);
    out.push({ name: e.name, value });
  }
  // A later definition of the same name wins, as in Kubernetes (the first one keeps its place).
  const last = new Map(out.map((e) => [e.name, e.value]));
  for (const [name, value] of services) if (!last.has(name)) last.set(name, value);
  return { env: [...last].map(([name, value]) => ({ name, value })), skipped };
}

/**
 * An env entry's valueFrom (kubelet's EnvVarSource): the downward API, or a ConfigMap's or Secret's
 * key; undefined when an optional key is missing, so the variable is left out.
 */
function envVarSourceValue(
  c: V1Container,
  vf: V1EnvVarSource,
  at: string,
  ctx: EnvContext,
  objects: EnvObjects,
): string | undefined {
  if (vf.fieldRef) return fieldValue(vf.fieldRef.fieldPath, ctx);
  if (vf.resourceFieldRef)
    return resourceValue(
      c,
      vf.resourceFieldRef.resource,
      vf.resourceFieldRef.divisor as string | number | undefined,
      ctx,
    );
  if (vf.configMapKeyRef || vf.secretKeyRef) {
    const ref = (vf.configMapKeyRef ?? vf.secretKeyRef)!;
    const kind = vf.configMapKeyRef ? 'configmap' : 'secret';
    const v = sourceData(objects, kind, ref.name ?? '', ref.optional, at)?.[ref.key];
    if (v !== undefined || ref.optional) return v;
    const ns = ctx.pod.metadata?.namespace ?? '';
    throw new ContainerConfigError(
      at,
      `couldn't find key ${ref.key} in ${vf.configMapKeyRef ? 'ConfigMap' : 'Secret'} ${ns}/${ref.name ?? ''}`,
      true,
    );
  }
  throw new ContainerConfigError(at, 'no source is set (fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef)');
}

/** The environment alone (see resolveContainerEnv). */
export function resolveEnv(
  c: V1Container,
  ctx: EnvContext,
  field: string,
  objects: EnvObjects = NO_ENV_OBJECTS,
): { name: string; value: string }[] {
  return resolveContainerEnv(c, ctx, field, objects).env;
}

export function expandArgs(args: string[] | undefined, env: { name: string; value: string }[]): string[] | undefined {
  if (!args || args.length === 0) return undefined;
  const vars = new Map(env.map((e) => [e.name, e.value]));
  return args.map((a) => expand(a, vars));
}
