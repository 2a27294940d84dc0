// Image garbage collection, as kubelet's realImageGCManager: every image is recorded when first
// detected, and its last use whenever a container uses it (in memory: a restarted agent starts
// counting again). When the image filesystem's usage reaches --image-gc-high-threshold percent,
// unused images are removed, least recently used first (then first detected first), until usage
// is back to --image-gc-low-threshold; an image detected less than --minimum-image-ttl-duration
// ago, one in use now, and pinned ones (the sandbox image kubenode itself needs) are never removed.
// https://github.com/kubernetes/kubernetes/blob/v1.34.4/pkg/kubelet/images/image_gc_manager.go
import type { Logger } from '../../lib/log.js';
import { readNodefs } from '../node/readings.js';
import type { ImageStore, StoredImage } from '../runtime/image-store.js';
import { errorMessage } from '../../lib/errors.js';

export interface ImageGCPolicy {
  highThresholdPercent: number;
  lowThresholdPercent: number;
  minAgeMs: number;
}

export interface ImageRecord {
  image: StoredImage;
  firstDetected: number;
  /** 0: never seen in use. */
  lastUsed: number;
  pinned: boolean;
}

/** detectImages (pure): records brought up to date with what the store holds and what is used. */
export function detectImages(
  records: ReadonlyMap<string, ImageRecord>,
  images: StoredImage[],
  inUse: ReadonlySet<string>,
  pinned: ReadonlySet<string>,
  now: number,
): Map<string, ImageRecord> {
  const out = new Map<string, ImageRecord>();
  for (const image of images) {
    const prev = records.get(image.id);
    out.set(image.id, {
      image,
      firstDetected: prev?.firstDetected ?? now,
      lastUsed: inUse.has(image.id) ? now : (prev?.lastUsed ?? 0),
      pinned: pinned.has(image.id),
    });
  }
  return out;
}

/** imagesInEvictionOrder (pure): not in use, not pinned; least recently used, then oldest detected, first. */
export function evictionOrder(records: ReadonlyMap<string, ImageRecord>, inUse: ReadonlySet<string>): ImageRecord[] {
  return [...records.values()]
    .filter((r) => !inUse.has(r.image.id) && !r.pinned)
    .sort((a, b) => a.lastUsed - b.lastUsed || a.firstDetected - b.firstDetected);
}

/** Bytes to free to get from `available` back to the low threshold, or 0 below the high one (pure). */
export function bytesToFree(capacity: number, available: number, policy: ImageGCPolicy): number {
  if (capacity <= 0) return 0;
  const avail = Math.min(available, capacity);
  const usagePercent = 100 - Math.trunc((avail * 100) / capacity);
  if (usagePercent < policy.highThresholdPercent) return 0;
  return Math.trunc((capacity * (100 - policy.lowThresholdPercent)) / 100) - avail;
}

export class ImageGCManager {
  private records = new Map<string, ImageRecord>();

  constructor(
    private readonly o: {
      store: ImageStore;
      policy: ImageGCPolicy;
      /** References of images kubenode needs itself (--pod-infra-container-image): never removed. */
      pinnedRefs: string[];
      /** Docker's data root (imagefs). */
      imagefsDir?: string;
      logger: Logger;
      /** Warning events on the Node (FreeDiskSpaceFailed). */
      onWarning?: (reason: string, message: string) => void;
    },
  ) {}

  /** Record what is there now (also run at start, so first-detected times begin early). */
  async detect(now = Date.now()): Promise<Set<string>> {
    const [images, inUse, pinned] = await Promise.all([
      this.o.store.list(),
      this.o.store.inUse(),
      Promise.all(this.o.pinnedRefs.map((r) => this.o.store.resolve(r))),
    ]);
    this.records = detectImages(this.records, images, inUse, new Set(pinned.filter((x): x is string => !!x)), now);
    return inUse;
  }

  /**
   * The periodic collection (kubelet's GarbageCollect): detect first, every time (that is what
   * records last uses), then free space down to the low threshold if usage is at the high one.
   */
  async garbageCollect(): Promise<void> {
    await this.detect();
    if (!this.o.imagefsDir) return;
    const fs = await readNodefs(this.o.imagefsDir);
    const want = bytesToFree(fs.capacityBytes, fs.availableBytes, this.o.policy);
    if (want <= 0) return;
    this.o.logger.info(
      'image filesystem usage is over the high threshold: removing unused images down to the low threshold',
      {
        usagePercent: 100 - Math.trunc((fs.availableBytes * 100) / fs.capacityBytes),
        highThreshold: this.o.policy.highThresholdPercent,
        lowThreshold: this.o.policy.lowThresholdPercent,
        bytesToFree: want,
      },
    );
    const freed = await this.freeSpace(want);
    if (freed < want) {
      const message = `Failed to garbage collect required amount of images. Attempted to free ${want} bytes, but only found ${freed} bytes eligible to free.`;
      this.o.onWarning?.('FreeDiskSpaceFailed', message);
      throw new Error(message);
    }
  }

  /** Every unused image that is old enough (eviction's node-level reclaim: DeleteUnusedImages). */
  deleteUnusedImages(): Promise<number> {
    return this.freeSpace(Number.MAX_SAFE_INTEGER);
  }

  private async freeSpace(want: number): Promise<number> {
    const freeTime = Date.now();
    const inUse = await this.detect(freeTime);
    let freed = 0;
    const errors: string[] = [];
    for (const r of evictionOrder(this.records, inUse)) {
      if (r.lastUsed >= freeTime) continue; // used by this very detection
      if (freeTime - r.firstDetected < this.o.policy.minAgeMs) continue;
      try {
        this.o.logger.info('removing image to free bytes', {
          imageID: r.image.id,
          tags: r.image.tags,
          size: r.image.size,
          lastUsed: r.lastUsed ? new Date(r.lastUsed).toISOString() : 'never',
        });
        await this.o.store.remove(r.image);
        this.records.delete(r.image.id);
        freed += r.image.size;
      } catch (e) {
        errors.push(`${r.image.id}: ${errorMessage(e)}`);
        continue;
      }
      if (freed >= want) break;
    }
    if (errors.length) this.o.logger.warn('some images could not be removed', { errors });
    return freed;
  }
}
