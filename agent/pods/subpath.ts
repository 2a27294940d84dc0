// The subdirectory of a volume a container mounts: `subPath` as written, or `subPathExpr` with
// $(VAR) references expanded from the container's environment. As kubelet's makeMounts
// (pkg/kubelet/kubelet_pods.go) and ExpandContainerVolumeMounts: a reference to a variable that
// is not set, or set to "", fails the container (CreateContainerConfigError) until the pod is
// changed; so does an absolute path or a '..' step, whatever produced it (the apiserver checks
// only the expression, not what it expands to). Pure.
import type { V1VolumeMount } from '@kubernetes/client-node';
import { ContainerConfigError, expandWith } from '../podspec/env.js';

export function volumeSubPath(
  m: V1VolumeMount,
  env: readonly { name: string; value: string }[],
  field: string,
): string {
  let subPath = m.subPath ?? '';
  if (m.subPathExpr) {
    const vars = new Map(env.map((e) => [e.name, e.value]));
    const missing = new Set<string>();
    subPath = expandWith(m.subPathExpr, (name) => {
      const v = vars.get(name) ?? '';
      if (v === '') missing.add(name);
      return v;
    });
    if (missing.size)
      throw new ContainerConfigError(
        `${field}.subPathExpr`,
        `missing value for ${[...missing].sort().join(', ')}`,
        true,
      );
  }
  if (subPath === '') return '';
  // kubelet's messages, word for word in their shape, so that `kubectl describe` reads the same.
  if (subPath.startsWith('/'))
    throw new ContainerConfigError(
      `${field}.subPath`,
      `error SubPath \`${subPath}\` must not be an absolute path`,
      true,
    );
  if (subPath.split('/').includes('..'))
    throw new ContainerConfigError(
      `${field}.subPath`,
      `unable to provision SubPath \`${subPath}\`: must not contain '..'`,
      true,
    );
  return subPath;
}
