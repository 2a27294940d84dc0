// The resources the agent allocated to each pod's containers, kept in a file so a restarted agent
// runs a pod at what it had allocated (not at a resize it had deferred, and without redoing one it
// had done), as kubelet's allocated_pods_state checkpoint: {"data": <JSON>, "checksum": ...}. A
// file whose checksum does not match is refused with kubelet's advice, not silently dropped.
// https://github.com/kubernetes/kubernetes/blob/v1.34.4/pkg/kubelet/allocation/state/state_checkpoint.go
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { V1ResourceRequirements } from '@kubernetes/client-node';
import { namingPath } from '../../lib/fs-errors.js';
import { errorMessage } from '../../lib/errors.js';

/** Per pod UID, per container name (app containers and sidecars): the allocated requirements. */
export type Allocations = Map<string, Record<string, V1ResourceRequirements>>;

const checksum = (data: string) => createHash('sha256').update(data).digest('hex');

export class AllocationCheckpoint {
  constructor(private readonly file: string) {}

  load(): Allocations {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw e;
    }
    try {
      const cp = JSON.parse(text) as { data: string; checksum: string };
      if (checksum(cp.data) !== cp.checksum) throw new Error('checksum mismatch');
      const entries =
        (JSON.parse(cp.data) as { entries?: Record<string, Record<string, V1ResourceRequirements>> }).entries ?? {};
      return new Map(Object.entries(entries));
    } catch (e) {
      throw new Error(
        `could not restore state from checkpoint: ${errorMessage(e)}, please drain this node and delete pod resource information checkpoint file "${this.file}" before restarting the agent`,
      );
    }
  }

  /** Written whole, to a temporary file renamed over the old one: a crash leaves one or the other. */
  save(a: Allocations): void {
    const data = JSON.stringify({ entries: Object.fromEntries(a) });
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ data, checksum: checksum(data) }));
    } catch (e) {
      throw namingPath(tmp, e); // ENOSPC names no file otherwise
    }
    renameSync(tmp, this.file);
  }
}
