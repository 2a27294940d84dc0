// Probe ports may name one of the container's ports (kubelet's findPortByName).
import type { V1Container } from '@kubernetes/client-node';

/**
 * An IANA service name as Kubernetes accepts for port names (validation.IsValidPortName):
 * 1-15 characters of [a-z0-9-], at least one letter, no leading, trailing or double hyphen.
 */
export function isValidPortName(name: string): boolean {
  return (
    name.length >= 1 &&
    name.length <= 15 &&
    /^[a-z0-9-]+$/.test(name) &&
    /[a-z]/.test(name) &&
    !name.startsWith('-') &&
    !name.endsWith('-') &&
    !name.includes('--')
  );
}

export function isValidPortNumber(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** The port number a probe connects to; throws naming the port when the name is unknown. */
export function resolvePort(port: number | string, container: V1Container): number {
  if (typeof port === 'number') return port;
  const found = (container.ports ?? []).find((p) => p.name === port);
  if (!found) throw new Error(`couldn't find port "${port}" in container ${container.name}`);
  return found.containerPort;
}
