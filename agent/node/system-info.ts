// nodeInfo facts about this machine that do not change while the agent runs (read once), in the
// vocabulary kubelet reports them: Go's names for OS and architecture, os-release's PRETTY_NAME.
import { readFile } from 'node:fs/promises';
import { release } from 'node:os';

export interface SystemFacts {
  machineID: string;
  systemUUID: string;
  bootID: string;
  kernelVersion: string;
  osImage: string;
  operatingSystem: string;
  architecture: string;
}

// Node's process.arch names -> Go's GOARCH names, which the kubernetes.io/arch label and
// nodeSelectors in the wild use ("amd64", not "x64").
const GOARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips: 'mips',
  mipsel: 'mipsle',
};
export const goArch = (nodeArch: string = process.arch) => GOARCH[nodeArch] ?? nodeArch;
export const goOS = (platform: NodeJS.Platform = process.platform) => (platform === 'win32' ? 'windows' : platform);

/** PRETTY_NAME from os-release text, as kubelet reports osImage. */
export function prettyName(osRelease: string): string | undefined {
  const m = /^PRETTY_NAME=(.*)$/m.exec(osRelease);
  return m ? m[1]!.trim().replace(/^(["'])(.*)\1$/, '$2') : undefined;
}

const readTrim = (path: string) =>
  readFile(path, 'utf8').then(
    (s) => s.trim(),
    () => '',
  );

export async function readSystemFacts(): Promise<SystemFacts> {
  const [machineID, productUUID, bootID, osRelease] = await Promise.all([
    readTrim('/etc/machine-id'),
    // Readable by root only; kubelet reports it when it can, and so do we.
    readTrim('/sys/class/dmi/id/product_uuid'),
    readTrim('/proc/sys/kernel/random/boot_id'),
    readTrim('/etc/os-release').then((s) => s || readTrim('/usr/lib/os-release')),
  ]);
  return {
    machineID,
    systemUUID: productUUID.toLowerCase(),
    bootID,
    kernelVersion: release(),
    osImage: prettyName(osRelease) ?? 'Linux',
    operatingSystem: goOS(),
    architecture: goArch(),
  };
}
