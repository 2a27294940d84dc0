// Validation of one container of a pod (validation.ts validates the pod around it): image,
// command, resources, ports, env, volume mounts, security context and lifecycle handlers.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/core/validation/validation.go (validateContainers)
import type { V1Container, V1ContainerPort, V1LifecycleHandler, V1VolumeMount } from '@kubernetes/client-node';
import { listItems } from '../../lib/list-items.js';
import type { FieldError } from './probe-validation.js';
import { badRelativePath, checkName, checkQuantity, dns1123Label, isObject } from './field-validation.js';
import { validateContainerEnv } from './env-validation.js';

const portName = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function checkHandler(errs: FieldError[], field: string, h: V1LifecycleHandler | null | undefined): void {
  // JSON null for a pointer field decodes to nil in the apiserver, the same as leaving it out.
  if (h === undefined || h === null) return;
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

/** One init or app container; `volumeNames` are the pod's volumes its mounts may name. */
export function validateContainer(
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
  validateContainerEnv(errs, c, field);
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
