// A probe as the workers use it: every field defaulted, the handler reduced to one tagged value.
// Defaults are the apiserver's (pkg/apis/core/v1/defaults.go SetDefaults_Probe and
// SetDefaults_HTTPGetAction): a pod that reaches the agent without going through an apiserver
// (static manifests, the HTTP sources) gets the very same values.
import type { V1Container, V1Probe } from '@kubernetes/client-node';

export type ProbeType = 'liveness' | 'readiness' | 'startup';

export const PROBE_DEFAULTS = {
  initialDelaySeconds: 0,
  periodSeconds: 10,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
} as const;

export interface HttpHeader {
  name: string;
  value: string;
}

export type ProbeHandler =
  | {
      kind: 'httpGet';
      scheme: 'HTTP' | 'HTTPS';
      host?: string;
      path: string;
      port: number | string;
      headers: HttpHeader[];
    }
  | { kind: 'tcpSocket'; host?: string; port: number | string }
  | { kind: 'exec'; command: string[] }
  | { kind: 'grpc'; port: number; service: string };

export interface ProbeSpec {
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
  handler: ProbeHandler;
}

/** The container field that holds a probe of this type. */
export function probeField(type: ProbeType): 'livenessProbe' | 'readinessProbe' | 'startupProbe' {
  return `${type}Probe` as const;
}

export const PROBE_TYPES: readonly ProbeType[] = ['startup', 'liveness', 'readiness'];

/** The probes a container declares, by type. */
export function containerProbes(container: V1Container): Map<ProbeType, V1Probe> {
  const out = new Map<ProbeType, V1Probe>();
  for (const type of PROBE_TYPES) {
    const p = container[probeField(type)];
    if (p) out.set(type, p);
  }
  return out;
}

/**
 * Apply the defaults. The probe must have passed validateProbes; a probe without a handler
 * throws, so that a caller that skipped validation finds out at once.
 */
export function probeSpec(probe: V1Probe): ProbeSpec {
  const d = PROBE_DEFAULTS;
  return {
    initialDelaySeconds: probe.initialDelaySeconds ?? d.initialDelaySeconds,
    periodSeconds: probe.periodSeconds ?? d.periodSeconds,
    timeoutSeconds: probe.timeoutSeconds ?? d.timeoutSeconds,
    successThreshold: probe.successThreshold ?? d.successThreshold,
    failureThreshold: probe.failureThreshold ?? d.failureThreshold,
    handler: probeHandler(probe),
  };
}

function probeHandler(probe: V1Probe): ProbeHandler {
  if (probe.httpGet) {
    const h = probe.httpGet;
    return {
      kind: 'httpGet',
      scheme: (h.scheme ?? 'HTTP').toUpperCase() === 'HTTPS' ? 'HTTPS' : 'HTTP',
      host: h.host || undefined,
      path: h.path || '/',
      port: h.port,
      headers: (h.httpHeaders ?? []).map((x) => ({ name: x.name, value: x.value })),
    };
  }
  if (probe.tcpSocket)
    return { kind: 'tcpSocket', host: probe.tcpSocket.host || undefined, port: probe.tcpSocket.port };
  if (probe.exec) return { kind: 'exec', command: probe.exec.command ?? [] };
  if (probe.grpc) return { kind: 'grpc', port: probe.grpc.port, service: probe.grpc.service ?? '' };
  throw new Error('probe has no handler (exec, httpGet, tcpSocket or grpc): validate pods with validateProbes first');
}
