// Fetches the ConfigMaps and Secrets a container's env and envFrom name, before the pure
// resolution in env.ts. Missing objects are returned as undefined (env.ts decides, with
// `optional`); an apiserver that cannot be asked is a configuration error of the container, as
// kubelet reports it (CreateContainerConfigError), retried on the next sync.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { NotConnectedError, type PodObjects } from '../objects/types.js';
import { ContainerConfigError, envRefs, NO_ENV_OBJECTS, type EnvObjects } from '../podspec/env.js';
import { errorMessage } from '../../lib/errors.js';

export async function fetchEnvObjects(
  pod: V1Pod,
  c: V1Container,
  field: string,
  objects: PodObjects | undefined,
): Promise<EnvObjects> {
  const refs = envRefs(c);
  if (!refs.configMaps.size && !refs.secrets.size) return NO_ENV_OBJECTS;
  if (!objects) {
    const what = [
      ...[...refs.configMaps.keys()].map((n) => `configmap "${n}"`),
      ...[...refs.secrets.keys()].map((n) => `secret "${n}"`),
    ].join(', ');
    throw new ContainerConfigError(`${field}.env`, new NotConnectedError(`cannot get ${what}`).message, true);
  }
  const out: EnvObjects = { configMaps: new Map(), secrets: new Map() };
  try {
    await Promise.all([
      ...[...refs.configMaps.keys()].map(async (n) => {
        out.configMaps.set(n, await objects.configMap(pod, n));
      }),
      ...[...refs.secrets.keys()].map(async (n) => {
        out.secrets.set(n, await objects.secret(pod, n));
      }),
    ]);
  } catch (e) {
    throw new ContainerConfigError(`${field}.env`, errorMessage(e), true);
  }
  return out;
}
