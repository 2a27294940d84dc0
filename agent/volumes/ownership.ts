// Volume ownership for a pod's fsGroup, as kubelet's SetVolumeOwnership (pkg/volume/volume_linux.go):
// every file and directory of the volume gets the fsGroup as its group; files gain group read (and
// write, on a writable volume), directories also gain group search and the setgid bit, so files a
// container makes later inherit the group. Symlinks are re-owned but never chmod-ed (chmod would
// follow them). The containers run with the fsGroup among their groups (container-spec.ts), so a
// process of any user reads a secret of mode 0400 through the group.
//
// Also the one owner kubelet sets: a projected service-account token belongs to the pod's "fsUser",
// the user every container runs as, when they all run as the same one (FsUserFrom).
import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';

const RW_MASK = 0o660;
const RO_MASK = 0o440;
const EXEC_MASK = 0o110;
const SETGID = 0o2000;

/** The mode a file or directory has under an fsGroup. */
export function fsGroupMode(mode: number, o: { dir: boolean; readOnly: boolean }): number {
  let mask = o.readOnly ? RO_MASK : RW_MASK;
  if (o.dir) mask |= EXEC_MASK | SETGID;
  return mode | mask;
}

export function fsGroupOf(pod: V1Pod): number | undefined {
  const g = pod.spec?.securityContext?.fsGroup;
  return g === undefined || g === null ? undefined : Number(g);
}

/**
 * The user every init and regular container runs as (container runAsUser, else the pod's), when
 * all of them name one; undefined when one names none (the image decides) or they differ.
 */
export function fsUserOf(pod: V1Pod): number | undefined {
  const containers: V1Container[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  let user: number | undefined;
  for (const c of containers) {
    const u = c.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser;
    if (u === undefined || u === null) return undefined;
    if (user !== undefined && user !== Number(u)) return undefined;
    user = Number(u);
  }
  return user;
}

/** True when the volume's root already has the group and the mode (kubelet's OnRootMismatch test). */
export async function rootOwned(root: string, gid: number, readOnly: boolean): Promise<boolean> {
  const st = await lstat(root);
  const mode = st.mode & 0o7777;
  return st.gid === gid && fsGroupMode(mode, { dir: true, readOnly }) === mode;
}

/** Give the whole tree under root (root included) the fsGroup. Never leaves the tree through a symlink. */
export async function setVolumeOwnership(root: string, gid: number, readOnly: boolean): Promise<void> {
  const visit = async (path: string): Promise<void> => {
    const st = await lstat(path);
    // -1: the owner stays as it is.
    await lchown(path, -1, gid);
    if (st.isSymbolicLink()) return;
    const mode = st.mode & 0o7777;
    const want = fsGroupMode(mode, { dir: st.isDirectory(), readOnly });
    if (want !== mode) await chmod(path, want);
    if (st.isDirectory()) for (const name of await readdir(path)) await visit(join(path, name));
  };
  await visit(root);
}
