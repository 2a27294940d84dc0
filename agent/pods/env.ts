// A container's environment as Kubernetes defines it: `value` with $(VAR) references to variables
// defined before it, and `valueFrom` through the downward API (fieldRef, resourceFieldRef). The
// same expansion applies to command and args. ConfigMap and Secret references need an apiserver
// (a later issue): they are reported as a configuration error naming the variable.
// https://kubernetes.io/docs/tasks/inject-data-application/define-interdependent-environment-variables/
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { parseQuantity } from '../../lib/quantity.js';

export interface EnvContext {
  pod: V1Pod;
  podIPs: string[];
  hostIPs: string[];
  /** Used for resourceFieldRef of a limit the container does not set (kubelet uses node allocatable). */
  nodeCpuMilli: number;
  nodeMemoryBytes: number;
}

/** A container that cannot be configured: kubelet's CreateContainerConfigError. */
export class ContainerConfigError extends Error {
  constructor(readonly field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = 'ContainerConfigError';
  }
}

/**
 * Expand $(NAME) from `vars`: "$$" escapes a dollar; a reference to an undefined name is left as
 * written, as Kubernetes does.
 */
export function expand(input: string, vars: ReadonlyMap<string, string>): string {
  let out = '';
  for (let i = 0; i < input.length; i++) {
    const ch = input[i]!;
    if (ch !== '$' || i + 1 >= input.length) { out += ch; continue; }
    const next = input[i + 1]!;
    if (next === '$') { out += '$'; i++; continue; }
    if (next === '(') {
      const close = input.indexOf(')', i + 2);
      if (close < 0) { out += input.slice(i); break; }
      const name = input.slice(i + 2, close);
      out += vars.has(name) ? vars.get(name)! : `$(${name})`;
      i = close;
      continue;
    }
    out += ch + next;
    i++;
  }
  return out;
}

function fieldValue(path: string, ctx: EnvContext): string {
  const md = ctx.pod.metadata ?? {};
  const m = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
  if (m) return (m[1] === 'labels' ? md.labels : md.annotations)?.[m[2]!] ?? '';
  switch (path) {
    case 'metadata.name': return md.name ?? '';
    case 'metadata.namespace': return md.namespace ?? '';
    case 'metadata.uid': return md.uid ?? '';
    case 'spec.nodeName': return ctx.pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName': return ctx.pod.spec?.serviceAccountName ?? '';
    case 'status.podIP': return ctx.podIPs[0] ?? '';
    case 'status.podIPs': return ctx.podIPs.join(',');
    case 'status.hostIP': return ctx.hostIPs[0] ?? '';
    case 'status.hostIPs': return ctx.hostIPs.join(',');
  }
  throw new ContainerConfigError('fieldRef.fieldPath', `unsupported field path ${JSON.stringify(path)}`);
}

/** resourceFieldRef: the container's request or limit divided by the divisor, rounded up. */
function resourceValue(c: V1Container, resource: string, divisor: string | undefined, ctx: EnvContext): string {
  const [kind, name] = resource.split('.') as ['limits' | 'requests', string];
  let q = c.resources?.[kind]?.[name];
  if (q === undefined && kind === 'limits') q = name === 'cpu' ? `${ctx.nodeCpuMilli}m` : name === 'memory' ? String(ctx.nodeMemoryBytes) : undefined;
  if (q === undefined) return '0';
  const v = parseQuantity(q as string);
  const d = parseQuantity(divisor ?? '1');
  // (v.n / v.d) / (d.n / d.d), rounded up
  const num = v.numerator * d.denominator;
  const den = v.denominator * d.numerator;
  const r = num / den + (num % den === 0n ? 0n : 1n);
  return r.toString();
}

export function resolveEnv(c: V1Container, ctx: EnvContext, field: string): { name: string; value: string }[] {
  const vars = new Map<string, string>();
  const out: { name: string; value: string }[] = [];
  if (c.envFrom?.length) throw new ContainerConfigError(`${field}.envFrom`, 'ConfigMap and Secret sources need the apiserver, which this agent is not connected to');
  (c.env ?? []).forEach((e, i) => {
    let value: string;
    if (e.valueFrom) {
      const vf = e.valueFrom;
      if (vf.fieldRef) value = fieldValue(vf.fieldRef.fieldPath, ctx);
      else if (vf.resourceFieldRef) value = resourceValue(c, vf.resourceFieldRef.resource, vf.resourceFieldRef.divisor as string | undefined, ctx);
      else {
        const ref = vf.configMapKeyRef ? `configmap "${vf.configMapKeyRef.name}"` : `secret "${vf.secretKeyRef?.name}"`;
        throw new ContainerConfigError(`${field}.env[${i}].valueFrom`, `${ref} not found: ConfigMap and Secret references need the apiserver, which this agent is not connected to`);
      }
    } else {
      value = expand(e.value ?? '', vars);
    }
    vars.set(e.name, value);
    out.push({ name: e.name, value });
  });
  // A later definition of the same name wins, as in Kubernetes.
  const last = new Map(out.map((e) => [e.name, e.value]));
  return [...last].map(([name, value]) => ({ name, value }));
}

export function expandArgs(args: string[] | undefined, env: { name: string; value: string }[]): string[] | undefined {
  if (!args || args.length === 0) return undefined;
  const vars = new Map(env.map((e) => [e.name, e.value]));
  return args.map((a) => expand(a, vars));
}
