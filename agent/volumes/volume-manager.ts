// Pod volumes on the node. emptyDir is a directory under --root-dir
// (pods/<uid>/volumes/kubernetes.io~empty-dir/<name>, as kubelet lays it out), or a tmpfs mounted
// there for `medium: Memory` with `sizeLimit` as its size; every container of the pod binds the
// same directory. hostPath binds a node path after its `type` check. configMap, secret,
// downwardAPI and projected volumes are written by ../volumes/api-volumes.ts and refreshed on
// every pod sync. Other volume types are reported as mount failures naming the volume.
// https://kubernetes.io/docs/concepts/storage/volumes/#hostpath-volume-types
import { chmod, lstat, mkdir, readFile, rm, stat, writeFile, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { V1Pod, V1Volume } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { run } from '../../lib/exec.js';
import { quantityValue } from '../../lib/quantity.js';
import { isMountPoint, mountsUnder } from './mounts.js';
import { ApiVolumes, alreadyWritten, pluginDir, type ApiVolumeEnv } from './api-volumes.js';
import { isApiDataVolume } from './payload.js';
import { fsGroupOf, rootOwned, setVolumeOwnership } from './ownership.js';
import { errorMessage } from '../../lib/errors.js';

/** kubelet's FailedMount: the pod stays in ContainerCreating with this message. */
export class VolumeError extends Error {
  constructor(
    readonly volume: string,
    reason: string,
  ) {
    // kubelet's exact shape, space before the colon included.
    super(`MountVolume.SetUp failed for volume "${volume}" : ${reason}`);
    this.name = 'VolumeError';
  }
}

export interface PodVolume {
  name: string;
  hostPath: string;
  /** API-data volumes are mounted read-only whatever the volumeMount says, as kubelet does. */
  readOnly?: boolean;
}

async function kindOf(path: string): Promise<string | undefined> {
  try {
    const st = await stat(path);
    if (st.isDirectory()) return 'Directory';
    if (st.isFile()) return 'File';
    if (st.isSocket()) return 'Socket';
    if (st.isCharacterDevice()) return 'CharDevice';
    if (st.isBlockDevice()) return 'BlockDevice';
    return 'other';
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The hostPath type check; creates the path for DirectoryOrCreate and FileOrCreate. */
export async function checkHostPath(volume: string, path: string, type: string): Promise<void> {
  const kind = await kindOf(path);
  const describe: Record<string, string> = {
    Directory: 'a directory',
    File: 'a file',
    Socket: 'a socket',
    CharDevice: 'a character device',
    BlockDevice: 'a block device',
  };
  switch (type) {
    case '':
      return;
    case 'DirectoryOrCreate':
      if (kind === undefined) {
        await mkdir(path, { recursive: true, mode: 0o755 });
        return;
      }
      if (kind !== 'Directory') throw new VolumeError(volume, `hostPath type check failed: ${path} is not a directory`);
      return;
    case 'FileOrCreate':
      if (kind === undefined) {
        // As kubelet: the file is created empty (0644), but its directory must already exist.
        if ((await kindOf(dirname(path))) !== 'Directory')
          throw new VolumeError(
            volume,
            `hostPath type check failed: ${dirname(path)} does not exist, so ${path} cannot be created`,
          );
        await (await open(path, 'a', 0o644)).close();
        return;
      }
      if (kind !== 'File') throw new VolumeError(volume, `hostPath type check failed: ${path} is not a file`);
      return;
    default:
      if (kind === undefined)
        throw new VolumeError(volume, `hostPath type check failed: ${path} does not exist (type ${type})`);
      if (kind !== type)
        throw new VolumeError(volume, `hostPath type check failed: ${path} is not ${describe[type] ?? type}`);
  }
}

export class VolumeManager {
  private readonly apiVolumes: ApiVolumes;
  /** The last refresh failure logged per pod volume (logged once until it changes). */
  private readonly refreshErrors = new Map<string, string>();

  constructor(private readonly opts: { rootDir: string; logger: Logger }) {
    this.apiVolumes = new ApiVolumes(opts.logger);
  }

  podDir(uid: string): string {
    return join(this.opts.rootDir, 'pods', uid);
  }

  emptyDirPath(uid: string, name: string): string {
    return join(this.podDir(uid), 'volumes', 'kubernetes.io~empty-dir', name);
  }

  /**
   * Set up every volume of the pod (idempotent); the host path of each, by volume name. API-data
   * volumes are rewritten when their objects changed; once written, a failure to refresh one is
   * logged and its current files stay (a running pod is never broken by a refresh).
   */
  async setUp(
    pod: V1Pod,
    env: ApiVolumeEnv = { capacity: { cpuMilli: 0, memoryBytes: 0 } },
  ): Promise<Map<string, PodVolume>> {
    const uid = pod.metadata!.uid!;
    const out = new Map<string, PodVolume>();
    for (const v of pod.spec?.volumes ?? []) {
      if (isApiDataVolume(v))
        out.set(v.name, { name: v.name, hostPath: await this.setUpApiVolume(pod, v, env), readOnly: true });
      else out.set(v.name, { name: v.name, hostPath: await this.setUpVolume(uid, v, fsGroupOf(pod)) });
    }
    return out;
  }

  /** True when the pod has volumes whose contents follow API objects (refreshed on each sync). */
  static hasApiDataVolumes(pod: V1Pod): boolean {
    return (pod.spec?.volumes ?? []).some(isApiDataVolume);
  }

  private async setUpApiVolume(pod: V1Pod, v: V1Volume, env: ApiVolumeEnv): Promise<string> {
    const uid = pod.metadata!.uid!;
    const dir = join(this.podDir(uid), 'volumes', pluginDir(v), v.name);
    const key = `${uid}/${v.name}`;
    try {
      await this.apiVolumes.setUp(pod, dir, v, env);
      if (this.refreshErrors.delete(key))
        this.opts.logger.info('volume refreshed again', {
          pod: `${pod.metadata!.namespace}/${pod.metadata!.name}`,
          volume: v.name,
        });
    } catch (e) {
      const reason = errorMessage(e);
      if (!(await alreadyWritten(dir))) throw new VolumeError(v.name, reason);
      if (this.refreshErrors.get(key) !== reason)
        this.opts.logger.warn('volume refresh failed; the pod keeps its current files', {
          pod: `${pod.metadata!.namespace}/${pod.metadata!.name}`,
          volume: v.name,
          error: reason,
        });
      this.refreshErrors.set(key, reason);
    }
    return dir;
  }

  private async setUpVolume(uid: string, v: V1Volume, fsGroup: number | undefined): Promise<string> {
    if (v.emptyDir) {
      const dir = this.emptyDirPath(uid, v.name);
      const made = await mkdir(dir, { recursive: true, mode: 0o777 });
      if (v.emptyDir.medium === 'Memory') {
        if (!(await isMountPoint(dir))) {
          const opts = ['mode=1777'];
          if (v.emptyDir.sizeLimit !== undefined) opts.push(`size=${quantityValue(v.emptyDir.sizeLimit as string)}`);
          try {
            await run('mount', ['-t', 'tmpfs', '-o', opts.join(','), 'tmpfs', dir], { timeoutMs: 10_000 });
          } catch (e) {
            throw new VolumeError(v.name, `mount tmpfs: ${errorMessage(e)}`);
          }
        }
      } else if (made !== undefined) {
        // World-writable as kubelet makes it, so a container running as any user can use it
        // (mkdir's mode passed through the umask).
        await chmod(dir, 0o777);
      }
      // Only the root is checked on later syncs: what the containers made in it is theirs.
      if (fsGroup !== undefined && !(await rootOwned(dir, fsGroup, false)))
        await setVolumeOwnership(dir, fsGroup, false);
      return dir;
    }
    if (v.hostPath) {
      await checkHostPath(v.name, v.hostPath.path, v.hostPath.type ?? '');
      return v.hostPath.path;
    }
    const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
    throw new VolumeError(
      v.name,
      `volume type ${kind} is not supported (emptyDir, hostPath, configMap, secret, downwardAPI and projected are)`,
    );
  }

  /**
   * Write one of the files the agent makes for a pod's containers to bind (etc-hosts,
   * resolv.conf: planned by pods/pod-dns.ts) into the pod's directory; its path. Written in place,
   * not renamed over: a bind mount holds the file's inode, so running containers see the update.
   */
  async writePodFile(uid: string, name: 'etc-hosts' | 'resolv.conf', content: string): Promise<string> {
    await mkdir(this.podDir(uid), { recursive: true });
    const file = join(this.podDir(uid), name);
    await writeFile(file, content, { mode: 0o644 });
    return file;
  }

  /** The path of a pod file written before, or undefined when there is none. */
  async existingPodFile(uid: string, name: 'etc-hosts' | 'resolv.conf'): Promise<string | undefined> {
    const file = join(this.podDir(uid), name);
    return (await kindOf(file)) === 'File' ? file : undefined;
  }

  /** A file for the container's termination message, bound at its terminationMessagePath. */
  async terminationMessageFile(uid: string, container: string, attempt: number): Promise<string> {
    const dir = join(this.podDir(uid), 'containers', container);
    await mkdir(dir, { recursive: true });
    const file = join(dir, String(attempt));
    await writeFile(file, '', { mode: 0o666, flag: 'a' });
    // The mode given at creation is masked by the umask (0644 under the usual 022); kubelet
    // chmods the file to 0666 after creating it, so that a container running as any user can
    // write its termination message (kuberuntime_container.go, makeMounts).
    await chmod(file, 0o666);
    return file;
  }

  async readTerminationMessage(uid: string, container: string, attempt: number): Promise<string | undefined> {
    try {
      const text = await readFile(join(this.podDir(uid), 'containers', container, String(attempt)), 'utf8');
      // kubelet keeps at most 4096 bytes of it.
      return text ? text.slice(0, 4096) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Unmount tmpfs volumes and remove the pod's directory. Never follows a mount it did not make. */
  /**
   * Remove the disk-backed emptyDir volumes of a pod whose containers have all stopped: kubelet
   * tears down a terminated pod's volumes, which is what gives an evicted pod's space back.
   */
  async removeEmptyDirs(pod: V1Pod): Promise<void> {
    for (const v of pod.spec?.volumes ?? []) {
      if (v.emptyDir && v.emptyDir.medium !== 'Memory')
        await rm(this.emptyDirPath(pod.metadata!.uid!, v.name), { recursive: true, force: true });
    }
  }

  async tearDown(uid: string): Promise<void> {
    const dir = this.podDir(uid);
    for (const k of this.refreshErrors.keys()) if (k.startsWith(`${uid}/`)) this.refreshErrors.delete(k);
    for (const m of (await mountsUnder(dir)).sort().reverse()) {
      await run('umount', [m], { allowFailure: true, timeoutMs: 10_000 });
    }
    const left = await mountsUnder(dir);
    if (left.length) {
      this.opts.logger.error('pod directory still has mounts; not removing it', { dir, mounts: left });
      return;
    }
    try {
      await lstat(dir);
    } catch {
      return;
    }
    await rm(dir, { recursive: true, force: true });
  }
}
