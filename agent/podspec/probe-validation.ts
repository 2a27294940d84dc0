// Probe validation as the apiserver does it (pkg/apis/core/validation: validateProbe,
// validateHandler, validatePortNumOrName), so a static pod that would be refused by an
// apiserver is refused by the agent with the same field path. Two deliberate differences, both
// stricter than upstream: an explicit 0 period, timeout or threshold is an error here (the
// apiserver would silently default it, hiding a typo), and a named port must exist in the
// container's ports (kubelet would otherwise only find out at probe time, every period).
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import { isValidPortName, isValidPortNumber } from './ports.js';
import { PROBE_TYPES, probeField } from './probe-spec.js';
import type { ProbeType } from './probe-spec.js';

export interface FieldError {
  /** e.g. "spec.containers[0].livenessProbe.periodSeconds" */
  field: string;
  reason: string;
}

const HANDLERS = ['exec', 'httpGet', 'tcpSocket', 'grpc'] as const;
const POSITIVE = ['periodSeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold'] as const;
const HEADER_NAME = /^[-A-Za-z0-9]+$/;

export function validateProbes(pod: V1Pod): FieldError[] {
  const errs: FieldError[] = [];
  (pod.spec?.containers ?? []).forEach((c, i) => {
    validateContainer(c, `spec.containers[${i}]`, true, errs);
  });
  (pod.spec?.initContainers ?? []).forEach((c, i) => {
    // Only sidecars (init containers that keep running) may be probed.
    validateContainer(c, `spec.initContainers[${i}]`, c.restartPolicy === 'Always', errs);
  });
  return errs;
}

function validateContainer(c: V1Container, path: string, mayProbe: boolean, errs: FieldError[]): void {
  for (const type of PROBE_TYPES) {
    const probe = c[probeField(type)];
    if (probe === undefined || probe === null) continue;
    const p = `${path}.${probeField(type)}`;
    if (!mayProbe) {
      errs.push({ field: p, reason: 'may not be set for init containers without restartPolicy=Always' });
      continue;
    }
    validateProbe(probe, type, c, p, errs);
  }
}

export function validateProbe(
  probe: V1Probe,
  type: ProbeType,
  c: V1Container,
  path: string,
  errs: FieldError[] = [],
): FieldError[] {
  if (typeof probe !== 'object') {
    errs.push({ field: path, reason: 'must be an object' });
    return errs;
  }
  const set = HANDLERS.filter((h) => probe[h] !== undefined && probe[h] !== null);
  if (set.length === 0)
    errs.push({ field: path, reason: 'must specify a handler type (exec, httpGet, tcpSocket or grpc)' });
  // As the apiserver does, name the second handler: that is the one to remove.
  for (const h of set.slice(1))
    errs.push({ field: `${path}.${h}`, reason: 'may not specify more than 1 handler type' });
  validateProbeTiming(probe, type, path, errs);
  validateProbeHandler(probe, c, path, errs);
  return errs;
}

/** The probe's delay, period, timeout, thresholds and grace period. */
function validateProbeTiming(probe: V1Probe, type: ProbeType, path: string, errs: FieldError[]): void {
  const delay = probe.initialDelaySeconds;
  if (delay !== undefined && !(Number.isInteger(delay) && delay >= 0)) {
    errs.push({
      field: `${path}.initialDelaySeconds`,
      reason: `must be an integer greater than or equal to 0 (got ${JSON.stringify(delay)})`,
    });
  }
  for (const f of POSITIVE) {
    const v = probe[f];
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) {
      errs.push({ field: `${path}.${f}`, reason: `must be an integer greater than 0 (got ${JSON.stringify(v)})` });
    }
  }
  if (
    (type === 'liveness' || type === 'startup') &&
    probe.successThreshold !== undefined &&
    probe.successThreshold !== 1
  ) {
    // A liveness or startup probe has no "recovering" state: one success is success.
    if (Number.isInteger(probe.successThreshold) && probe.successThreshold > 0) {
      errs.push({
        field: `${path}.successThreshold`,
        reason: `must be 1 for ${type} probes (got ${probe.successThreshold})`,
      });
    }
  }
  const grace = probe.terminationGracePeriodSeconds;
  if (grace !== undefined && grace !== null) {
    if (type === 'readiness')
      errs.push({ field: `${path}.terminationGracePeriodSeconds`, reason: 'must not be set for readinessProbes' });
    else if (!(Number.isInteger(grace) && grace > 0)) {
      errs.push({
        field: `${path}.terminationGracePeriodSeconds`,
        reason: `must be an integer greater than 0 (got ${JSON.stringify(grace)})`,
      });
    }
  }
}

/** The fields of the probe's handlers (httpGet, tcpSocket, exec, grpc). */
function validateProbeHandler(probe: V1Probe, c: V1Container, path: string, errs: FieldError[]): void {
  if (probe.httpGet) {
    const h = probe.httpGet;
    validatePort(h.port, c, `${path}.httpGet.port`, errs);
    if (h.scheme !== undefined && h.scheme !== 'HTTP' && h.scheme !== 'HTTPS') {
      errs.push({
        field: `${path}.httpGet.scheme`,
        reason: `unsupported value ${JSON.stringify(h.scheme)}: supported values: "HTTP", "HTTPS"`,
      });
    }
    if (h.path !== undefined && typeof h.path !== 'string')
      errs.push({ field: `${path}.httpGet.path`, reason: 'must be a string' });
    (h.httpHeaders ?? []).forEach((hd, j) => {
      if (typeof hd?.name !== 'string' || !HEADER_NAME.test(hd.name)) {
        errs.push({
          field: `${path}.httpGet.httpHeaders[${j}].name`,
          reason: `invalid HTTP header name ${JSON.stringify(hd?.name)}: must consist of alphanumeric characters or '-'`,
        });
      }
      if (typeof hd?.value !== 'string')
        errs.push({ field: `${path}.httpGet.httpHeaders[${j}].value`, reason: 'must be a string' });
    });
  }
  if (probe.tcpSocket) validatePort(probe.tcpSocket.port, c, `${path}.tcpSocket.port`, errs);
  if (probe.exec) {
    const cmd = probe.exec.command;
    if (!Array.isArray(cmd) || cmd.length === 0)
      errs.push({ field: `${path}.exec.command`, reason: 'Required value: a command to run in the container' });
    else if (cmd.some((a) => typeof a !== 'string'))
      errs.push({ field: `${path}.exec.command`, reason: 'must be a list of strings' });
  }
  if (probe.grpc) {
    // gRPC probes take a number only: the API has no named gRPC port.
    if (!isValidPortNumber(probe.grpc.port)) {
      errs.push({
        field: `${path}.grpc.port`,
        reason: `must be a port number between 1 and 65535 (got ${JSON.stringify(probe.grpc.port)})`,
      });
    }
    if (probe.grpc.service !== undefined && probe.grpc.service !== null && typeof probe.grpc.service !== 'string') {
      errs.push({ field: `${path}.grpc.service`, reason: 'must be a string' });
    }
  }
}

function validatePort(port: unknown, c: V1Container, field: string, errs: FieldError[]): void {
  if (port === undefined || port === null || port === '') {
    errs.push({ field, reason: "Required value: a port number or the name of one of the container's ports" });
  } else if (typeof port === 'number') {
    if (!isValidPortNumber(port)) errs.push({ field, reason: `must be between 1 and 65535, inclusive (got ${port})` });
  } else if (typeof port !== 'string' || !isValidPortName(port)) {
    errs.push({
      field,
      reason: `${JSON.stringify(port)} is neither a port number nor a valid port name (1-15 lower-case letters, digits or '-', at least one letter)`,
    });
  } else if (!(c.ports ?? []).some((p) => p.name === port)) {
    const names = (c.ports ?? []).map((p) => p.name).filter(Boolean);
    errs.push({
      field,
      reason: `port name "${port}" is not one of container "${c.name}"'s ports (${names.length ? names.map((n) => `"${n}"`).join(', ') : 'it names none'})`,
    });
  }
}
