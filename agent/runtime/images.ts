// Images for containers, by imagePullPolicy: Never uses only what is on the node, IfNotPresent
// pulls when missing, Always pulls every time a container is started. A pull that fails is
// ErrImagePull; while its back-off runs (10 s doubling to 5 min, as kubelet) it is ImagePullBackOff.
// Nothing here ever throws anything but an ImageError: a bad image never takes the agent down.
import type { Logger } from '../../lib/log.js';
import { Backoff } from '../podspec/backoff.js';
import type { DockerRuntime } from './docker.js';
import { errorMessage } from '../../lib/errors.js';

export type ImageErrorReason = 'ErrImagePull' | 'ImagePullBackOff' | 'ErrImageNeverPull' | 'InvalidImageName';

export class ImageError extends Error {
  constructor(
    readonly reason: ImageErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'ImageError';
  }
}

// Docker's reference grammar, loosely: lowercase path components, optional registry, tag, digest.
const referencePattern =
  /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/** Where ensure() says what it did, in kubelet's image events (Pulling, Pulled, BackOff...). */
export type ImageReporter = (type: 'Normal' | 'Warning', reason: string, message: string) => void;

/** A duration as Go prints one in kubelet's messages: 523ms, 1.204s. */
function goDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)}ms` : `${(ms / 1000).toFixed(3).replace(/\.?0+$/, '')}s`;
}

export class ImageManager {
  private readonly backoff = new Backoff();
  private readonly present = new Map<string, { id: string; at: number }>();

  constructor(private readonly opts: { runtime: DockerRuntime; logger: Logger; pullTimeoutMs?: number }) {}

  /** Make the image available; returns its ID. `key` scopes the pull back-off (pod uid + image). */
  async ensure(
    image: string,
    policy: string | undefined,
    key: string,
    now = Date.now(),
    report: ImageReporter = () => {},
  ): Promise<string> {
    if (!referencePattern.test(image)) {
      report('Warning', 'InspectFailed', `Failed to apply default image tag "${image}": invalid reference format`);
      throw new ImageError(
        'InvalidImageName',
        `Failed to apply default image tag "${image}": couldn't parse image name "${image}": invalid reference format`,
      );
    }
    if (policy !== 'Always') {
      // A hundred pods of one image arriving together ask once, not a hundred times.
      const cached = this.present.get(image);
      if (cached && now - cached.at < 10_000) {
        report('Normal', 'Pulled', `Container image "${image}" already present on machine`);
        return cached.id;
      }
      const present = await this.opts.runtime.imageInspect(image).catch(() => undefined);
      if (present) {
        this.present.set(image, { id: present.Id, at: now });
        report('Normal', 'Pulled', `Container image "${image}" already present on machine`);
        return present.Id;
      }
    }
    if (policy === 'Never')
      report('Warning', 'ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
    if (policy === 'Never')
      throw new ImageError('ErrImageNeverPull', `Container image "${image}" is not present with pull policy of Never`);
    const bkey = `${key}/${image}`;
    const left = this.backoff.remaining(bkey, this.backoff.get(bkey)?.lastUpdate ?? 0, now);
    if (left > 0) {
      report('Normal', 'BackOff', `Back-off pulling image "${image}"`);
      throw new ImageError('ImagePullBackOff', `Back-off pulling image "${image}"`);
    }
    const pullStart = Date.now();
    try {
      this.opts.logger.info('pulling image', { image, policy });
      report('Normal', 'Pulling', `Pulling image "${image}"`);
      await this.opts.runtime.pull(image, this.opts.pullTimeoutMs ?? 120_000);
    } catch (e) {
      this.backoff.next(bkey, now);
      report('Warning', 'Failed', `Failed to pull image "${image}": ${errorMessage(e)}`);
      throw new ImageError('ErrImagePull', `failed to pull image "${image}": ${errorMessage(e)}`);
    }
    this.backoff.reset(bkey);
    const info = await this.opts.runtime.imageInspect(image);
    if (!info) throw new ImageError('ErrImagePull', `image "${image}" is not present after pulling it`);
    // Pulls here are not queued behind others, so the time waited is the time pulled.
    const took = goDuration(Date.now() - pullStart);
    report(
      'Normal',
      'Pulled',
      `Successfully pulled image "${image}" in ${took} (${took} including waiting). Image size: ${info.Size ?? 0} bytes.`,
    );
    return info.Id;
  }

  forgetPod(uid: string): void {
    this.backoff.resetPrefix(`${uid}/`);
  }
}
