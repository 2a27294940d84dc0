// Sets up and refreshes the volumes whose contents come from the API: configMap, secret,
// downwardAPI and projected. Each pod sync fetches what the volume refers to (through the TTL
// cache), builds the payload (payload.ts) and hands it to the atomic writer, which writes only
// when something changed; running containers see the new files through the `..data` symlink.
// Secret and projected volumes live on a tmpfs as with kubelet (secrets never touch the disk).
import { mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod, V1Volume } from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import { isMountPoint } from './mounts.js';
import type { Logger } from '../../lib/log.js';
import { NotConnectedError, type PodObjects } from '../objects/types.js';
import { TOKEN_DEFAULT_EXPIRATION_SECONDS, TOKEN_MIN_EXPIRATION_SECONDS } from '../objects/token-refresh.js';
import { writeAtomically } from './atomic-writer.js';
import { fsGroupOf, rootOwned, setVolumeOwnership } from './ownership.js';
import { ProjectionError, volumePayload, volumeRefs, type FetchedObjects } from './payload.js';
import { errorMessage } from '../../lib/errors.js';

export interface ApiVolumeEnv {
  /** Absent when the agent has no --kubeconfig. */
  objects?: PodObjects;
  capacity: { cpuMilli: number; memoryBytes: number };
}

/** kubelet's plugin directory names under pods/<uid>/volumes/. */
export function pluginDir(v: V1Volume): string {
  if (v.configMap) return 'kubernetes.io~configmap';
  if (v.secret) return 'kubernetes.io~secret';
  if (v.downwardAPI) return 'kubernetes.io~downward-api';
  return 'kubernetes.io~projected';
}

/** Secrets and tokens are kept in memory only. */
export function memoryBacked(v: V1Volume): boolean {
  return Boolean(v.secret || v.projected);
}

/** Everything the volume refers to, from the apiserver (one GET or TokenRequest each, cached). */
export async function fetchVolumeObjects(
  pod: V1Pod,
  v: V1Volume,
  objects: PodObjects | undefined,
): Promise<FetchedObjects> {
  const refs = volumeRefs(v);
  const out: FetchedObjects = { configMaps: new Map(), secrets: new Map(), tokens: new Map() };
  if (!refs.configMaps.length && !refs.secrets.length && !refs.tokens.length) return out;
  if (!objects) {
    const what = [
      ...refs.configMaps.map((n) => `configmap "${n}"`),
      ...refs.secrets.map((n) => `secret "${n}"`),
      ...(refs.tokens.length ? ['a service account token'] : []),
    ].join(', ');
    throw new NotConnectedError(`cannot get ${what}`);
  }
  await Promise.all([
    ...refs.configMaps.map(async (n) => {
      out.configMaps.set(n, await objects.configMap(pod, n));
    }),
    ...refs.secrets.map(async (n) => {
      out.secrets.set(n, await objects.secret(pod, n));
    }),
    ...refs.tokens.map(async (t) => {
      const expirationSeconds = t.expirationSeconds ?? TOKEN_DEFAULT_EXPIRATION_SECONDS;
      if (expirationSeconds < TOKEN_MIN_EXPIRATION_SECONDS)
        throw new ProjectionError(
          `serviceAccountToken.expirationSeconds ${expirationSeconds} is below the minimum of ${TOKEN_MIN_EXPIRATION_SECONDS}`,
        );
      const sa = pod.spec?.serviceAccountName || 'default';
      out.tokens.set(
        t.index,
        (await objects.serviceAccountToken(pod, sa, { audience: t.audience, expirationSeconds })).token,
      );
    }),
  ]);
  return out;
}

export class ApiVolumes {
  private tmpfsWarned = false;

  constructor(private readonly logger: Logger) {}

  /**
   * Make the volume's directory hold its current contents. Throws (with the reason only; the
   * caller names the volume) when an object is missing, the apiserver cannot be reached...
   */
  async setUp(pod: V1Pod, dir: string, v: V1Volume, env: ApiVolumeEnv): Promise<void> {
    const objects = await fetchVolumeObjects(pod, v, env.objects);
    const payload = volumePayload(v, objects, {
      pod,
      nodeCpuMilli: env.capacity.cpuMilli,
      nodeMemoryBytes: env.capacity.memoryBytes,
    });
    await mkdir(dir, { recursive: true, mode: 0o755 });
    if (memoryBacked(v)) await this.ensureTmpfs(dir);
    const plan = await writeAtomically(dir, payload);
    const fsGroup = fsGroupOf(pod);
    if (
      fsGroup !== undefined &&
      (plan.replaceData || plan.addVisible.length || !(await rootOwned(dir, fsGroup, true)))
    ) {
      await setVolumeOwnership(dir, fsGroup, true);
    }
  }

  private async ensureTmpfs(dir: string): Promise<void> {
    if (await isMountPoint(dir)) return;
    try {
      await run('mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', dir], { timeoutMs: 10_000 });
    } catch (e) {
      // kubelet would fail the mount; an agent without CAP_SYS_ADMIN still runs the pod, on disk.
      if (!this.tmpfsWarned)
        this.logger.warn('cannot mount tmpfs for secret volumes; writing them to the root dir instead', {
          error: errorMessage(e),
        });
      this.tmpfsWarned = true;
    }
  }
}

/** True when the volume directory was written before (a refresh failure then keeps the old files). */
export async function alreadyWritten(dir: string): Promise<boolean> {
  try {
    await readlink(join(dir, '..data'));
    return true;
  } catch {
    return false;
  }
}
