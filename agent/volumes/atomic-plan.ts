// The decisions of kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go), kept pure: which
// payload paths are acceptable, whether the volume's contents must be replaced, and which
// user-visible names to add and remove. The writer (atomic-writer.ts) then does it: the payload
// goes into a new timestamped directory `..<time>`, the `..data` symlink is swapped to it with
// one rename, and each top-level name is a symlink through `..data`. A container reading
// `config/key` resolves `..data` once, so it sees either all old or all new files, never a mix.
import type { FileContent, Payload } from './payload.js';

export const DATA_DIR_NAME = '..data';
export const NEW_DATA_DIR_NAME = '..data_tmp';

/** Why a payload path is refused (undefined when it is fine): relative, no `..`, not hidden by the writer's own names. */
export function invalidPathReason(path: string): string | undefined {
  if (path === '') return 'the path is empty';
  if (path.startsWith('/')) return 'the path must be relative';
  if (path.length > 4096) return 'the path is longer than 4096 characters';
  const parts = path.split('/');
  if (parts.some((p) => p === '..')) return "the path must not contain '..'";
  if (parts.some((p) => p === '' || p === '.')) return 'the path must not contain empty or "." elements';
  if (parts.some((p) => p.length > 255)) return 'a path element is longer than 255 characters';
  if (path.startsWith('..')) return "the path must not start with '..'";
  return undefined;
}

/** The first element of each path: the names a container sees at the volume's root. */
export function userVisibleNames(paths: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const p of paths) out.add(p.split('/')[0]!);
  return out;
}

function sameContent(a: FileContent, b: FileContent): boolean {
  return (a.mode & 0o7777) === (b.mode & 0o7777) && a.data.equals(b.data);
}

export interface CurrentVolume {
  /** What `..data` points at now, read back (undefined: never written). */
  files?: Map<string, FileContent>;
  /** Names at the volume's root that do not start with `..`. */
  visible: Set<string>;
}

export interface WritePlan {
  /** A new data directory must be written and `..data` swapped to it. */
  replaceData: boolean;
  addVisible: string[];
  removeVisible: string[];
}

export function planWrite(payload: Payload, current: CurrentVolume): WritePlan {
  let replaceData = !current.files || current.files.size !== payload.size;
  if (!replaceData) {
    for (const [p, c] of payload) {
      const old = current.files!.get(p);
      if (!old || !sameContent(old, c)) {
        replaceData = true;
        break;
      }
    }
  }
  const want = userVisibleNames(payload.keys());
  return {
    replaceData,
    addVisible: [...want].filter((n) => !current.visible.has(n)).sort(),
    removeVisible: [...current.visible].filter((n) => !want.has(n)).sort(),
  };
}

/** kubelet's data directory name: `..` + the time, with a random suffix so two writes in one second differ. */
export function dataDirName(now: Date, random: string): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `..${now.getUTCFullYear()}_${p(now.getUTCMonth() + 1)}_${p(now.getUTCDate())}_${p(now.getUTCHours())}_${p(now.getUTCMinutes())}_${p(now.getUTCSeconds())}.${random}`;
}
