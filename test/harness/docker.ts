// The real Docker Engine for tests. A missing or stopped daemon fails the test with what to do.
import Docker from 'dockerode';
import type { Teardownable } from './netns.js';
import { errorMessage } from '../../lib/errors.js';

export const TEST_LABEL = 'kubenode.test.run';

export async function requireDocker(): Promise<Docker> {
  const docker = new Docker({ socketPath: process.env.DOCKER_SOCKET ?? '/var/run/docker.sock' });
  try {
    await docker.ping();
  } catch (e) {
    throw new Error(
      `Docker Engine is not reachable at /var/run/docker.sock (${errorMessage(e)}): run 'sudo scripts/setup.sh', which installs docker.io and starts dockerd`,
    );
  }
  return docker;
}

export async function requireImage(docker: Docker, image: string): Promise<void> {
  try {
    await docker.getImage(image).inspect();
  } catch {
    throw new Error(`image ${image} is missing: run 'sudo scripts/setup.sh', which builds the test images`);
  }
}

/** Remove, at teardown, every container whose name starts with prefix (whoever created it). */
export function removeContainersAtTeardown(t: Teardownable, docker: Docker, prefix: string): void {
  t.teardown(async () => {
    const list = await docker.listContainers({ all: true });
    await Promise.all(
      list
        .filter((c) => c.Names.some((n) => n.replace(/^\//, '').includes(prefix)))
        .map((c) =>
          docker
            .getContainer(c.Id)
            .remove({ force: true, v: true })
            .catch(() => {}),
        ),
    );
  });
}

export const IMAGES = {
  busybox: 'kubenode/busybox:latest',
  pause: 'kubenode/pause:latest',
  demo: 'kubenode/demo:latest',
} as const;
