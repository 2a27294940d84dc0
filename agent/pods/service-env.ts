// The environment variables kubelet gives every container for Services (docker-link style), as
// kubelet's getServiceEnvVarMap (pkg/kubelet/kubelet_pods.go) and envvars.FromServices
// (pkg/kubelet/envvars/envvars.go): for each Service with a ClusterIP (not "None", not empty)
// that is the `kubernetes` Service of `default` (always) or is in the pod's namespace (when
// enableServiceLinks is not false): NAME_SERVICE_HOST, NAME_SERVICE_PORT, NAME_SERVICE_PORT_<PORT
// NAME> for every named port, NAME_PORT (the first port as proto://ip:port) and for every port
// NAME_PORT_<port>_<PROTO>{,_PROTO,_PORT,_ADDR}. NAME is the Service name upper-cased with '-' as
// '_'. Variables the container defines itself win (resolveContainerEnv adds these only where the
// name is free). Pure.
import type { V1Pod, V1Service } from '@kubernetes/client-node';
import type { ServiceLister } from '../objects/types.js';
import { ContainerConfigError } from '../podspec/env.js';

/** Services whose variables every pod gets, whatever its namespace and enableServiceLinks. */
const MASTER_SERVICES = new Set(['kubernetes']);
const MASTER_NAMESPACE = 'default';

function hasClusterIP(s: V1Service): boolean {
  const ip = s.spec?.clusterIP;
  return ip !== undefined && ip !== '' && ip !== 'None';
}

function envName(serviceOrPort: string): string {
  return serviceOrPort.replaceAll('-', '_').toUpperCase();
}

function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** The variables for these Services, in kubelet's order for each Service. */
export function envFromServices(services: readonly V1Service[]): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const s of services) {
    const ports = s.spec?.ports ?? [];
    if (!hasClusterIP(s) || ports.length === 0) continue;
    const ip = s.spec!.clusterIP!;
    const prefix = envName(s.metadata?.name ?? '');
    out.push({ name: `${prefix}_SERVICE_HOST`, value: ip });
    out.push({ name: `${prefix}_SERVICE_PORT`, value: String(ports[0]!.port) });
    for (const p of ports)
      if (p.name) out.push({ name: `${prefix}_SERVICE_PORT_${envName(p.name)}`, value: String(p.port) });
    ports.forEach((p, i) => {
      const proto = (p.protocol || 'TCP').toLowerCase();
      const url = `${proto}://${hostPort(ip, p.port)}`;
      if (i === 0) out.push({ name: `${prefix}_PORT`, value: url }); // Docker special-cases the first port
      const pp = `${prefix}_PORT_${p.port}_${proto.toUpperCase()}`;
      out.push(
        { name: pp, value: url },
        { name: `${pp}_PROTO`, value: proto },
        { name: `${pp}_PORT`, value: String(p.port) },
        { name: `${pp}_ADDR`, value: ip },
      );
    });
  }
  return out;
}

/**
 * The service variables a pod in `namespace` sees, by name. As kubelet, a Service of the pod's
 * namespace named like a master service (`kubernetes`) takes its place, whatever the list order:
 * a master service is only taken where the name is still free.
 */
export function serviceEnvVarMap(
  services: readonly V1Service[],
  namespace: string,
  enableServiceLinks: boolean,
): Map<string, string> {
  const chosen = new Map<string, V1Service>();
  for (const s of services) {
    if (!hasClusterIP(s)) continue;
    const name = s.metadata?.name ?? '';
    if (s.metadata?.namespace === MASTER_NAMESPACE && MASTER_SERVICES.has(name)) {
      if (!chosen.has(name)) chosen.set(name, s);
    } else if (s.metadata?.namespace === namespace && enableServiceLinks) {
      chosen.set(name, s);
    }
  }
  // Sorted by Service name: kubelet's map order is random, and a stable one keeps the container
  // config (and so `docker inspect`) the same from one start to the next.
  const sorted = [...chosen.keys()].sort().map((k) => chosen.get(k)!);
  return new Map(envFromServices(sorted).map((e) => [e.name, e.value]));
}

/** The pod came from the apiserver (kubelet's !IsStaticPod): its source annotation says so. */
function fromApiserver(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.['kubernetes.io/config.source'] === 'api';
}

/**
 * The service variables for a container of `pod`. Without an apiserver there are none (kubelet
 * without a kubeClient). A pod from the apiserver waits, as a CreateContainerConfigError retried
 * on the next sync, until the Services have been listed once: kubelet's makeEnvironmentVariables
 * refuses to start it without KUBERNETES_SERVICE_HOST, which in-cluster clients read. Static pods
 * take what the cache has.
 */
export function podServiceEnv(lister: ServiceLister | undefined, pod: V1Pod): Map<string, string> {
  if (!lister) return new Map();
  // Retried after 1 s: the first list is normally under way (the agent just started).
  if (fromApiserver(pod) && !lister.hasSynced())
    throw new ContainerConfigError(
      'env',
      'services have not yet been read at least once, cannot construct envvars',
      true,
      1000,
    );
  return serviceEnvVarMap(lister.list(), pod.metadata?.namespace ?? '', pod.spec?.enableServiceLinks !== false);
}
