// Docker's image store, for image garbage collection and the imagefs signals: list images, which
// images containers use, remove one, and where Docker keeps its data. Like docker.ts, it only
// does what it is told; image-gc.ts decides.
import type Docker from 'dockerode';

export interface StoredImage {
  id: string;
  size: number;
  tags: string[];
}

export class ImageStore {
  constructor(private readonly docker: Docker) {}

  async list(): Promise<StoredImage[]> {
    const images = await this.docker.listImages({ all: false });
    return images.map((i) => ({
      id: i.Id,
      size: i.Size,
      tags: (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'),
    }));
  }

  /**
   * IDs of images any container uses, running or not, this agent's or not. kubelet counts only
   * its own containers, but it has a runtime of its own; this Docker is shared with whatever else
   * runs on the machine, whose images are not ours to judge unused.
   */
  async inUse(): Promise<Set<string>> {
    const containers = await this.docker.listContainers({ all: true });
    return new Set(containers.map((c) => c.ImageID));
  }

  /** The image ID a reference names now, if it is present. */
  async resolve(ref: string): Promise<string | undefined> {
    try {
      return (await this.docker.getImage(ref).inspect()).Id;
    } catch {
      return undefined;
    }
  }

  /**
   * Remove an image with every tag it has, never forced: Docker itself refuses an image that a
   * container still uses (as dockershim removed each tag, then the ID).
   */
  async remove(image: StoredImage): Promise<void> {
    for (const tag of image.tags) await this.docker.getImage(tag).remove({ noprune: false });
    if (!image.tags.length || (await this.resolve(image.id)))
      await this.docker.getImage(image.id).remove({ noprune: false });
  }

  /** DockerRootDir: the filesystem of images, writable layers and container logs (imagefs). */
  async dataRoot(): Promise<string | undefined> {
    const info = (await this.docker.info()) as { DockerRootDir?: string };
    return info.DockerRootDir || undefined;
  }
}
