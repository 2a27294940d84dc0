// A container's mounts, as kubelet's makeMounts: its volumeMounts (subPath prepared on the host),
// its termination-message file, and the pod's /etc/hosts and /etc/resolv.conf.
import type { V1Container } from '@kubernetes/client-node';
import { ContainerConfigError } from '../podspec/env.js';
import { volumeSubPath } from './subpath.js';
import { prepareSubPath, SubPathError } from '../volumes/subpath-dir.js';
import type { Mount } from '../runtime/container-spec.js';
import type { PodContext } from './context.js';
import { resolvConfFor, writeHostsFile } from './pod-dns.js';
import type { PodState } from './pod-state.js';

/** The container's volume mounts, its termination-message file, and the pod's /etc/hosts and /etc/resolv.conf. */
export async function containerMounts(
  ctx: PodContext,
  state: PodState,
  c: V1Container,
  env: Parameters<typeof mountsFor>[2],
  field: string,
  attempt: number,
): Promise<Mount[]> {
  const mounts = await mountsFor(state, c, env, field);
  const termFile = await ctx.volumes.terminationMessageFile(state.uid, c.name, attempt);
  mounts.push({
    hostPath: termFile,
    containerPath: c.terminationMessagePath ?? '/dev/termination-log',
    readOnly: false,
  });
  // kubelet's /etc/hosts (host-network pods get the node's under its own header) and the
  // runtime's /etc/resolv.conf for the pod's dnsPolicy, unless the container mounts its own there.
  if (state.podIPs.length > 0 && !mounts.some((m) => m.containerPath === '/etc/hosts')) {
    mounts.push({ hostPath: await writeHostsFile(ctx, state), containerPath: '/etc/hosts', readOnly: false });
  }
  if (!mounts.some((m) => m.containerPath === '/etc/resolv.conf')) {
    mounts.push({ hostPath: await resolvConfFor(ctx, state), containerPath: '/etc/resolv.conf', readOnly: false });
  }
  return mounts;
}

async function mountsFor(
  state: PodState,
  c: V1Container,
  env: { name: string; value: string }[],
  field: string,
): Promise<Mount[]> {
  const out: Mount[] = [];
  for (const [i, m] of (c.volumeMounts ?? []).entries()) {
    const v = state.volumes?.get(m.name);
    if (!v) throw new ContainerConfigError(`volumeMounts ${m.name}`, 'the volume is not set up');
    let hostPath = v.hostPath;
    const subPath = volumeSubPath(m, env, `${field}.volumeMounts[${i}]`);
    if (subPath) {
      // A key of a configMap or secret volume is a file (a symlink through ..data): bound as it is.
      try {
        hostPath = await prepareSubPath(v.hostPath, subPath, !v.readOnly);
      } catch (e) {
        if (e instanceof SubPathError)
          throw new ContainerConfigError(`${field}.volumeMounts[${i}].subPath`, e.message, true);
        throw e;
      }
    }
    // API-data volumes (configMap, secret, downwardAPI, projected) are always read-only, as kubelet mounts them.
    out.push({ hostPath, containerPath: m.mountPath, readOnly: (m.readOnly ?? false) || (v.readOnly ?? false) });
  }
  return out;
}
