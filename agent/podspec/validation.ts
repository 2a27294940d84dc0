// Validation of a pod from a local source (file, URL, manifest server), on the fields the agent
// relies on. Each error names the field by its path ("spec.containers[1].resources.limits.cpu")
// and why, as the apiserver's field errors do; the caller adds which file or URL it came from.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/core/validation/validation.go
import type {
  V1Container,
  V1ContainerPort,
  V1EnvFromSource,
  V1EnvVar,
  V1LifecycleHandler,
  V1Pod,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { listItems } from '../../lib/list-items.js';
import { parseQuantity, quantityMilliValue, QuantityError } from '../../lib/quantity.js';
import { validateProbes, type FieldError } from './probe-validation.js';
import { ENV_VAR_NAME_RULE, isEnvVarName } from './env.js';
import { errorMessage } from '../../lib/errors.js';

export type { FieldError };

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const portName = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export const supportedFieldPaths = [
  'metadata.name',
  'metadata.namespace',
  'metadata.uid',
  'spec.nodeName',
  'spec.serviceAccountName',
  'status.hostIP',
  'status.hostIPs',
  'status.podIP',
  'status.podIPs',
];
const fieldPathPattern = /^metadata\.(labels|annotations)\['[^']+'\]$/;
export const hostPathTypes = [
  '',
  'DirectoryOrCreate',
  'Directory',
  'FileOrCreate',
  'File',
  'Socket',
  'CharDevice',
  'BlockDevice',
];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Not a guard on purpose: the typed field keeps its type for the checks that follow. */
const notObject = (v: unknown): boolean => !isObject(v);

/** A relative path field (subPath, subPathExpr); not a string is an error, not a TypeError. */
function badRelativePath(v: unknown): boolean {
  return typeof v !== 'string' || v.startsWith('/') || v.split('/').includes('..');
}

function checkName(errs: FieldError[], field: string, v: unknown, pattern: RegExp, max: number, what: string): void {
  if (typeof v !== 'string' || v === '') errs.push({ field, reason: 'Required value' });
  else if (v.length > max) errs.push({ field, reason: `must be no more than ${max} characters` });
  else if (!pattern.test(v)) errs.push({ field, reason: `Invalid value ${JSON.stringify(v)}: ${what}` });
}

function checkQuantity(errs: FieldError[], field: string, v: unknown): number | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') {
    errs.push({ field, reason: `Invalid value ${JSON.stringify(v)}: must be a quantity such as "100m" or "64Mi"` });
    return undefined;
  }
  try {
    const q = parseQuantity(v);
    if (q.numerator < 0n) {
      errs.push({ field, reason: `Invalid value ${JSON.stringify(v)}: must be greater than or equal to 0` });
      return undefined;
    }
    return quantityMilliValue(q);
  } catch (e) {
    errs.push({ field, reason: e instanceof QuantityError ? e.message : String(e) });
    return undefined;
  }
}

function checkHandler(errs: FieldError[], field: string, h: V1LifecycleHandler | undefined): void {
  if (h === undefined) return;
  const kinds = (['exec', 'httpGet', 'tcpSocket', 'sleep'] as const).filter(
    (k) => (h as Record<string, unknown>)[k] !== undefined,
  );
  if (kinds.length !== 1)
    errs.push({ field, reason: 'must specify exactly one handler type (exec, httpGet, tcpSocket or sleep)' });
  if (h.exec && (!Array.isArray(h.exec.command) || h.exec.command.length === 0))
    errs.push({ field: `${field}.exec.command`, reason: 'Required value' });
  if (h.httpGet && h.httpGet.port === undefined)
    errs.push({ field: `${field}.httpGet.port`, reason: 'Required value' });
}

function validateContainer(
  errs: FieldError[],
  c: V1Container,
  field: string,
  volumeNames: Set<string>,
  isInit: boolean,
): void {
  if (!isObject(c)) {
    errs.push({ field, reason: 'must be an object' });
    return;
  }
  checkName(
    errs,
    `${field}.name`,
    c.name,
    dns1123Label,
    63,
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
  );
  if (typeof c.image !== 'string' || c.image.trim() === '')
    errs.push({ field: `${field}.image`, reason: 'Required value' });
  if (c.imagePullPolicy !== undefined && !['Always', 'IfNotPresent', 'Never'].includes(c.imagePullPolicy))
    errs.push({
      field: `${field}.imagePullPolicy`,
      reason: `Unsupported value: ${JSON.stringify(c.imagePullPolicy)}: supported values: "Always", "IfNotPresent", "Never"`,
    });
  for (const k of ['command', 'args'] as const) {
    const v = c[k];
    if (v !== undefined && (!Array.isArray(v) || v.some((s) => typeof s !== 'string')))
      errs.push({ field: `${field}.${k}`, reason: 'must be a list of strings' });
  }
  if (
    c.workingDir !== undefined &&
    (typeof c.workingDir !== 'string' || (c.workingDir !== '' && !c.workingDir.startsWith('/')))
  )
    errs.push({ field: `${field}.workingDir`, reason: 'must be an absolute path' });

  validateResources(errs, c, field);
  validatePorts(errs, c, field);
  for (const [e, f] of listItems<V1EnvVar>(errs, `${field}.env`, c.env)) {
    if (typeof e.name !== 'string' || !isEnvVarName(e.name))
      errs.push({ field: `${f}.name`, reason: `Invalid value ${JSON.stringify(e.name)}: ${ENV_VAR_NAME_RULE}` });
    if (e.value !== undefined && e.valueFrom !== undefined)
      errs.push({ field: `${f}.valueFrom`, reason: 'may not be specified when `value` is not empty' });
    checkEnvVarSource(errs, f, e.valueFrom);
  }

  for (const [e, f] of listItems<V1EnvFromSource>(errs, `${field}.envFrom`, c.envFrom)) {
    if (e.prefix !== undefined && e.prefix !== '' && (typeof e.prefix !== 'string' || !isEnvVarName(e.prefix)))
      errs.push({ field: `${f}.prefix`, reason: `Invalid value ${JSON.stringify(e.prefix)}: ${ENV_VAR_NAME_RULE}` });
  }

  validateVolumeMounts(errs, c, field, volumeNames);
  validateSecurityContext(errs, c, field);
  checkHandler(errs, `${field}.lifecycle.preStop`, c.lifecycle?.preStop);
  checkHandler(errs, `${field}.lifecycle.postStart`, c.lifecycle?.postStart);
  if (isInit) {
    for (const p of ['livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle'] as const)
      if (c[p] !== undefined && c.restartPolicy !== 'Always')
        errs.push({ field: `${field}.${p}`, reason: 'Forbidden: may not be set for init containers' });
  }
}

/** Resources: every quantity must parse, and a request may not exceed its limit. */
function validateResources(errs: FieldError[], c: V1Container, field: string): void {
  const res = c.resources ?? {};
  const parsed: Record<string, Record<string, number | undefined>> = { requests: {}, limits: {} };
  for (const kind of ['requests', 'limits'] as const) {
    const m = res[kind];
    if (m === undefined) continue;
    if (!isObject(m)) {
      errs.push({ field: `${field}.resources.${kind}`, reason: 'must be a map of resource name to quantity' });
      continue;
    }
    for (const [name, v] of Object.entries(m))
      parsed[kind]![name] = checkQuantity(errs, `${field}.resources.${kind}.${name}`, v);
  }
  for (const [name, req] of Object.entries(parsed.requests!)) {
    const lim = parsed.limits![name];
    if (req !== undefined && lim !== undefined && req > lim)
      errs.push({
        field: `${field}.resources.requests.${name}`,
        reason: `Invalid value ${JSON.stringify(res.requests![name])}: must be less than or equal to ${name} limit of ${JSON.stringify(res.limits![name])}`,
      });
  }
}

function validatePorts(errs: FieldError[], c: V1Container, field: string): void {
  const portNames = new Set<string>();
  for (const [p, f] of listItems<V1ContainerPort>(errs, `${field}.ports`, c.ports)) {
    if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535)
      errs.push({
        field: `${f}.containerPort`,
        reason: `Invalid value ${JSON.stringify(p.containerPort)}: must be between 1 and 65535, inclusive`,
      });
    if (p.hostPort !== undefined && (!Number.isInteger(p.hostPort) || p.hostPort < 0 || p.hostPort > 65535))
      errs.push({
        field: `${f}.hostPort`,
        reason: `Invalid value ${JSON.stringify(p.hostPort)}: must be between 1 and 65535, inclusive`,
      });
    if (p.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(p.protocol))
      errs.push({
        field: `${f}.protocol`,
        reason: `Unsupported value: ${JSON.stringify(p.protocol)}: supported values: "SCTP", "TCP", "UDP"`,
      });
    if (p.name !== undefined) {
      if (typeof p.name !== 'string' || p.name.length > 15 || !portName.test(p.name) || !/[a-z]/.test(p.name))
        errs.push({
          field: `${f}.name`,
          reason: `Invalid value ${JSON.stringify(p.name)}: must be an IANA_SVC_NAME (at most 15 characters, lower case alphanumerics or '-', at least one letter)`,
        });
      else if (portNames.has(p.name))
        errs.push({ field: `${f}.name`, reason: `Duplicate value: ${JSON.stringify(p.name)}` });
      else portNames.add(p.name);
    }
  }
}

/** An env var's valueFrom: exactly one source, and a field path or resource kubelet can resolve. */
function checkEnvVarSource(errs: FieldError[], f: string, vf: V1EnvVar['valueFrom']): void {
  if (vf !== undefined && notObject(vf)) errs.push({ field: `${f}.valueFrom`, reason: 'must be an object' });
  else if (vf) {
    const kinds = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'].filter(
      (k) => (vf as Record<string, unknown>)[k] !== undefined,
    );
    if (kinds.length !== 1)
      errs.push({
        field: `${f}.valueFrom`,
        reason: 'must specify exactly one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`',
      });
    const fp = vf.fieldRef?.fieldPath;
    if (vf.fieldRef && !(supportedFieldPaths.includes(fp ?? '') || fieldPathPattern.test(fp ?? '')))
      errs.push({
        field: `${f}.valueFrom.fieldRef.fieldPath`,
        reason: `Unsupported value: ${JSON.stringify(fp)}: supported values: ${supportedFieldPaths.map((s) => JSON.stringify(s)).join(', ')}, metadata.labels['<key>'], metadata.annotations['<key>']`,
      });
    const rf = vf.resourceFieldRef;
    if (
      rf &&
      ![
        'limits.cpu',
        'limits.memory',
        'requests.cpu',
        'requests.memory',
        'limits.ephemeral-storage',
        'requests.ephemeral-storage',
      ].includes(rf.resource)
    )
      errs.push({
        field: `${f}.valueFrom.resourceFieldRef.resource`,
        reason: `Unsupported value: ${JSON.stringify(rf.resource)}`,
      });
    if (rf?.divisor !== undefined) checkQuantity(errs, `${f}.valueFrom.resourceFieldRef.divisor`, rf.divisor);
  }
}

function validateVolumeMounts(errs: FieldError[], c: V1Container, field: string, volumeNames: Set<string>): void {
  const mountPaths = new Set<string>();
  for (const [m, f] of listItems<V1VolumeMount>(errs, `${field}.volumeMounts`, c.volumeMounts)) {
    if (!volumeNames.has(m.name)) errs.push({ field: `${f}.name`, reason: `Not found: ${JSON.stringify(m.name)}` });
    if (typeof m.mountPath !== 'string' || !m.mountPath.startsWith('/'))
      errs.push({ field: `${f}.mountPath`, reason: 'must be an absolute path' });
    else if (mountPaths.has(m.mountPath))
      errs.push({ field: `${f}.mountPath`, reason: `Invalid value ${JSON.stringify(m.mountPath)}: must be unique` });
    else mountPaths.add(m.mountPath);
    if (m.subPath !== undefined && badRelativePath(m.subPath))
      errs.push({ field: `${f}.subPath`, reason: "must be a relative path without '..'" });
    // As the apiserver: the expression itself is checked here, what it expands to when the container starts.
    if (m.subPathExpr !== undefined && badRelativePath(m.subPathExpr))
      errs.push({ field: `${f}.subPathExpr`, reason: "must be a relative path without '..'" });
    if (m.subPath && m.subPathExpr)
      errs.push({ field: `${f}.subPathExpr`, reason: 'subPathExpr and subPath are mutually exclusive' });
  }
}

function validateSecurityContext(errs: FieldError[], c: V1Container, field: string): void {
  const sc = c.securityContext;
  if (sc?.runAsUser !== undefined && (!Number.isInteger(sc.runAsUser) || sc.runAsUser < 0))
    errs.push({ field: `${field}.securityContext.runAsUser`, reason: 'must be between 0 and 2147483647, inclusive' });
  if (sc?.runAsGroup !== undefined && (!Number.isInteger(sc.runAsGroup) || sc.runAsGroup < 0))
    errs.push({ field: `${field}.securityContext.runAsGroup`, reason: 'must be between 0 and 2147483647, inclusive' });
  if (sc?.privileged && sc.allowPrivilegeEscalation === false)
    errs.push({
      field: `${field}.securityContext`,
      reason: 'cannot set `allowPrivilegeEscalation` to false and `privileged` to true',
    });
}

/**
 * Field errors of a pod; empty when it is acceptable. `obj` is whatever the manifest held: a
 * document that is not a Pod at all is reported on `kind`.
 */
export function validatePod(obj: unknown): FieldError[] {
  const errs: FieldError[] = [];
  if (!isObject(obj)) return [{ field: '<root>', reason: 'expected a Pod object' }];
  if (obj.kind !== 'Pod')
    return [{ field: 'kind', reason: `expected "Pod", got ${JSON.stringify(obj.kind ?? null)}: this is not a Pod` }];
  if (obj.apiVersion !== undefined && obj.apiVersion !== 'v1')
    return [{ field: 'apiVersion', reason: `expected "v1", got ${JSON.stringify(obj.apiVersion)}` }];
  const pod = obj as V1Pod;
  const md = pod.metadata;
  if (!isObject(md)) return [{ field: 'metadata', reason: 'Required value' }];
  checkName(
    errs,
    'metadata.name',
    md.name,
    dns1123Subdomain,
    253,
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'",
  );
  if (md.namespace !== undefined)
    checkName(
      errs,
      'metadata.namespace',
      md.namespace,
      dns1123Label,
      63,
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'",
    );
  const spec = pod.spec;
  if (!isObject(spec)) return [...errs, { field: 'spec', reason: 'Required value' }];
  if (!Array.isArray(spec.containers) || spec.containers.length === 0)
    errs.push({ field: 'spec.containers', reason: 'Required value: a pod must have at least one container' });
  if (spec.initContainers !== undefined && !Array.isArray(spec.initContainers))
    errs.push({ field: 'spec.initContainers', reason: 'must be a list' });
  if (spec.restartPolicy !== undefined && !['Always', 'OnFailure', 'Never'].includes(spec.restartPolicy))
    errs.push({
      field: 'spec.restartPolicy',
      reason: `Unsupported value: ${JSON.stringify(spec.restartPolicy)}: supported values: "Always", "OnFailure", "Never"`,
    });
  const g = spec.terminationGracePeriodSeconds;
  if (g !== undefined && (!Number.isInteger(g) || g < 0))
    errs.push({ field: 'spec.terminationGracePeriodSeconds', reason: 'must be greater than or equal to 0' });

  const volumeNames = new Set<string>();
  for (const [v, f] of listItems<V1Volume>(errs, 'spec.volumes', spec.volumes)) {
    checkName(errs, `${f}.name`, v.name, dns1123Label, 63, 'a lowercase RFC 1123 label');
    if (volumeNames.has(v.name))
      errs.push({ field: `${f}.name`, reason: `Duplicate value: ${JSON.stringify(v.name)}` });
    volumeNames.add(v.name);
    const sources = Object.keys(v).filter((k) => k !== 'name');
    if (sources.length > 1)
      errs.push({ field: f, reason: `may not specify more than 1 volume type (got ${sources.join(', ')})` });
    if (v.hostPath !== undefined && notObject(v.hostPath))
      errs.push({ field: `${f}.hostPath`, reason: 'must be an object' });
    else if (v.hostPath) {
      if (typeof v.hostPath.path !== 'string' || !v.hostPath.path.startsWith('/'))
        errs.push({ field: `${f}.hostPath.path`, reason: 'must be an absolute path' });
      if (v.hostPath.type !== undefined && !hostPathTypes.includes(v.hostPath.type))
        errs.push({
          field: `${f}.hostPath.type`,
          reason: `Unsupported value: ${JSON.stringify(v.hostPath.type)}: supported values: ${hostPathTypes.map((t) => JSON.stringify(t)).join(', ')}`,
        });
    }
    if (v.emptyDir !== undefined && v.emptyDir !== null && notObject(v.emptyDir))
      errs.push({ field: `${f}.emptyDir`, reason: 'must be an object' });
    else if (v.emptyDir) {
      if (v.emptyDir.medium !== undefined && !['', 'Memory'].includes(v.emptyDir.medium))
        errs.push({
          field: `${f}.emptyDir.medium`,
          reason: `Unsupported value: ${JSON.stringify(v.emptyDir.medium)}: supported values: "", "Memory"`,
        });
      if (v.emptyDir.sizeLimit !== undefined) checkQuantity(errs, `${f}.emptyDir.sizeLimit`, v.emptyDir.sizeLimit);
    }
  }

  // Container names are unique across init and app containers: they name the container in status,
  // logs and the Docker container name.
  const names = new Map<string, string>();
  const all: [V1Container, string, boolean][] = [
    ...(Array.isArray(spec.initContainers) ? spec.initContainers : []).map(
      (c, i) => [c, `spec.initContainers[${i}]`, true] as [V1Container, string, boolean],
    ),
    ...(Array.isArray(spec.containers) ? spec.containers : []).map(
      (c, i) => [c, `spec.containers[${i}]`, false] as [V1Container, string, boolean],
    ),
  ];
  for (const [c, f, isInit] of all) {
    validateContainer(errs, c, f, volumeNames, isInit);
    if (isObject(c) && typeof c.name === 'string') {
      if (names.has(c.name))
        errs.push({
          field: `${f}.name`,
          reason: `Duplicate value: ${JSON.stringify(c.name)} (also ${names.get(c.name)}.name)`,
        });
      else names.set(c.name, f);
    }
  }
  // Probe fields are the prober's to judge; a pod too malformed for it is already rejected above.
  if (Array.isArray(spec.containers)) {
    try {
      errs.push(...validateProbes(pod));
    } catch (e) {
      errs.push({ field: 'spec.containers', reason: `invalid probes: ${errorMessage(e)}` });
    }
  }
  return errs;
}
