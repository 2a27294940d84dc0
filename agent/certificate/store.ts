// Where a node's certificates live, named as kubelet names them (client-go util/certificate
// certificate_store.go): under --cert-dir, "<pair>-<timestamp>.pem" holds the certificate and its
// key, and "<pair>-current.pem" is a symlink to the newest one. The kubeconfig names the symlink,
// so a renewal is one atomic rename of the link, and readers see either the old or the new pair.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { errorMessage } from '../../lib/errors.js';

export type PairName = 'kubelet-client' | 'kubelet-server';

export interface KeyPair {
  cert: X509Certificate;
  /** The certificate chain, PEM, as issued. */
  certPem: string;
  keyPem: string;
  key: KeyObject;
}

export const currentPath = (certDir: string, pair: PairName) => join(certDir, `${pair}-current.pem`);

/** Go's "2006-01-02-15-04-05" in UTC: the timestamp kubelet puts in the file names. */
export function fileTimestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}`;
}

/** Splits a PEM file holding a certificate chain and a private key; throws saying what is missing. */
export function parsePair(pem: string, where: string): KeyPair {
  const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g);
  const keyBlock = /-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]+?-----END \1PRIVATE KEY-----\n?/.exec(pem)?.[0];
  if (!certs?.length) throw new Error(`${where}: no certificate in the file`);
  if (!keyBlock) throw new Error(`${where}: no private key in the file`);
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new X509Certificate(certs[0]!);
  } catch (e) {
    throw new Error(`${where}: certificate does not parse: ${errorMessage(e)}`);
  }
  try {
    key = createPrivateKey(keyBlock);
  } catch (e) {
    throw new Error(`${where}: private key does not parse: ${errorMessage(e)}`);
  }
  if (!cert.checkPrivateKey(key)) throw new Error(`${where}: the private key does not belong to the certificate`);
  return { cert, certPem: certs.join(''), keyPem: keyBlock, key };
}

/** The current pair, or undefined when there is none yet (or it does not parse: the reason is returned). */
export function loadCurrent(certDir: string, pair: PairName): { pair?: KeyPair; problem?: string } {
  const path = currentPath(certDir, pair);
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    return { problem: `${path}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}` };
  }
  try {
    return { pair: parsePair(pem, path) };
  } catch (e) {
    return { problem: errorMessage(e) };
  }
}

/** Usable now: within notBefore..notAfter. */
export function isValidAt(cert: X509Certificate, now: Date): boolean {
  return new Date(cert.validFrom).getTime() <= now.getTime() && now.getTime() < new Date(cert.validTo).getTime();
}

/** Writes a new "<pair>-<timestamp>.pem" (mode 0600) and points "<pair>-current.pem" at it atomically. */
export function storePair(certDir: string, pair: PairName, certPem: string, keyPem: string, now = new Date()): string {
  mkdirSync(certDir, { recursive: true, mode: 0o700 });
  const file = join(certDir, `${pair}-${fileTimestamp(now)}.pem`);
  writeFileSync(file, `${certPem.trimEnd()}\n${keyPem.trimEnd()}\n`, { mode: 0o600 });
  const link = currentPath(certDir, pair);
  const tmp = `${link}.tmp-${process.pid}`;
  try {
    unlinkSync(tmp);
  } catch {
    /* none left over */
  }
  symlinkSync(basename(file), tmp); // relative: the directory can move
  renameSync(tmp, link);
  return file;
}
