// Images for containers, by imagePullPolicy: Never uses only what is on the node, IfNotPresent
// pulls when missing, Always pulls every time a container is started. A pull that fails is
// ErrImagePull; while its back-off runs (10 s doubling to 5 min, as kubelet) it is ImagePullBackOff.
// Nothing here ever throws anything but an ImageError: a bad image never takes the agent down.
import type { Logger } from '../../lib/log.js';
import { Backoff } from '../pods/backoff.js';
import type { DockerRuntime } from './docker.js';

export type ImageErrorReason = 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName';

export class ImageError extends Error {
  constructor(readonly reason: ImageErrorReason, message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

// Docker's reference grammar, loosely: lowercase path components, optional registry, tag, digest.
const referencePattern = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

export class ImageManager {
  private readonly backoff = new Backoff();
  private readonly present = new Map<string, { id: string; at: number }>();

  constructor(private readonly opts: { runtime: DockerRuntime; logger: Logger; pullTimeoutMs?: number }) {}

  /** Make the image available; returns its ID. `key` scopes the pull back-off (pod uid + image). */
  async ensure(image: string, policy: string | undefined, key: string, now = Date.now()): Promise<string> {
    if (!referencePattern.test(image)) throw new ImageError('InvalidImageName', `Failed to apply default image tag "${image}": couldn't parse image name "${image}": invalid reference format`);
    if (policy !== 'Always') {
      // A hundred pods of one image arriving together ask once, not a hundred times.
      const cached = this.present.get(image);
      if (cached && now - cached.at < 10_000) return cached.id;
      const present = await this.opts.runtime.imageInspect(image).catch(() => undefined);
      if (present) {
        this.present.set(image, { id: present.Id, at: now });
        return present.Id;
      }
    }
    if (policy === 'Never') throw new ImageError('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
    const bkey = `${key}/${image}`;
    const left = this.backoff.remaining(bkey, this.backoff.get(bkey)?.lastUpdate ?? 0, now);
    if (left > 0) throw new ImageError('ImagePullBackOff', `Back-off pulling image "${image}"`);
    try {
      this.opts.logger.info('pulling image', { image, policy });
      await this.opts.runtime.pull(image, this.opts.pullTimeoutMs ?? 120_000);
    } catch (e) {
      this.backoff.next(bkey, now);
      throw new ImageError('ErrImagePull', `failed to pull image "${image}": ${(e as Error).message}`);
    }
    this.backoff.reset(bkey);
    const info = await this.opts.runtime.imageInspect(image);
    if (!info) throw new ImageError('ErrImagePull', `image "${image}" is not present after pulling it`);
    return info.Id;
  }

  forgetPod(uid: string): void {
    this.backoff.resetPrefix(`${uid}/`);
  }
}
