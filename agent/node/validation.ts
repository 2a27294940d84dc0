// Checks the NodeAgent's options before anything talks to the apiserver, so a bad flag is one
// clear error naming the field, not a 422 or 403 repeated with back-off forever (pure).
import { isIP } from '../../lib/ip.js';
import type { V1Taint } from '@kubernetes/client-node';
import { parseQuantity, quantityValue } from '../../lib/quantity.js';
import { TAINT_EFFECTS } from './taints.js';
import { errorMessage } from '../../lib/errors.js';

export interface FieldError {
  field: string;
  reason: string;
}

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelName = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

function qualifiedNameErrors(field: string, key: string): FieldError[] {
  const slash = key.lastIndexOf('/');
  const [prefix, name] = slash < 0 ? [undefined, key] : [key.slice(0, slash), key.slice(slash + 1)];
  const errs: FieldError[] = [];
  if (prefix !== undefined && (!dnsSubdomain.test(prefix) || prefix.length > 253))
    errs.push({ field, reason: `prefix ${JSON.stringify(prefix)} must be a DNS subdomain` });
  if (!name || name.length > 63 || !labelName.test(name))
    errs.push({
      field,
      reason: `name ${JSON.stringify(name)} must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`,
    });
  return errs;
}

function labelValueErrors(field: string, value: string): FieldError[] {
  return value === '' || (value.length <= 63 && labelName.test(value))
    ? []
    : [
        {
          field,
          reason: `value ${JSON.stringify(value)} must be empty or 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`,
        },
      ];
}

export interface ValidatedOptions {
  nodeName: string;
  hostname?: string;
  nodeIP?: string;
  registerWithTaints?: V1Taint[];
  labels?: Record<string, string>;
  reserved?: { cpu?: string; memory?: string };
  maxPods?: number;
  kubeletPort?: number;
}

export function validateNodeOptions(o: ValidatedOptions): FieldError[] {
  const errs: FieldError[] = [];
  if (!o.nodeName || o.nodeName.length > 253 || !dnsSubdomain.test(o.nodeName))
    errs.push({
      field: 'nodeName',
      reason: `${JSON.stringify(o.nodeName)} is not a DNS subdomain name (lowercase alphanumerics, '-' and '.')`,
    });
  if (o.hostname !== undefined && (!o.hostname || o.hostname.length > 63 || !labelName.test(o.hostname)))
    errs.push({
      field: 'hostname',
      reason: `${JSON.stringify(o.hostname)} is not a valid label value (it becomes kubernetes.io/hostname)`,
    });
  if (o.nodeIP !== undefined && !isIP(o.nodeIP))
    errs.push({ field: 'nodeIP', reason: `${JSON.stringify(o.nodeIP)} is not an IP address` });
  (o.registerWithTaints ?? []).forEach((t, i) => {
    const f = `registerWithTaints[${i}]`;
    errs.push(...qualifiedNameErrors(`${f}.key`, t.key ?? ''));
    if (t.value) errs.push(...labelValueErrors(`${f}.value`, t.value));
    if (!(TAINT_EFFECTS as readonly string[]).includes(t.effect))
      errs.push({
        field: `${f}.effect`,
        reason: `must be one of ${TAINT_EFFECTS.join(', ')}, not ${JSON.stringify(t.effect)}`,
      });
  });
  for (const [k, v] of Object.entries(o.labels ?? {})) {
    errs.push(
      ...qualifiedNameErrors(`labels[${JSON.stringify(k)}]`, k),
      ...labelValueErrors(`labels[${JSON.stringify(k)}]`, v),
    );
    // NodeRestriction refuses these on a node's own object; say so now rather than get 403s.
    if (/(^|\.)node-restriction\.kubernetes\.io\//.test(k))
      errs.push({
        field: `labels[${JSON.stringify(k)}]`,
        reason:
          'the node-restriction.kubernetes.io/ prefix is reserved for the cluster admin; a node may not set it on itself',
      });
  }
  for (const r of ['cpu', 'memory'] as const) {
    const v = o.reserved?.[r];
    if (v === undefined) continue;
    try {
      if (quantityValue(parseQuantity(v)) < 0) errs.push({ field: `reserved.${r}`, reason: 'must not be negative' });
    } catch (err) {
      errs.push({ field: `reserved.${r}`, reason: errorMessage(err) });
    }
  }
  if (o.maxPods !== undefined && (!Number.isInteger(o.maxPods) || o.maxPods < 1))
    errs.push({ field: 'maxPods', reason: `must be a positive integer, not ${o.maxPods}` });
  if (o.kubeletPort !== undefined && (!Number.isInteger(o.kubeletPort) || o.kubeletPort < 1 || o.kubeletPort > 65535))
    errs.push({ field: 'kubeletPort', reason: `must be a port number 1-65535, not ${o.kubeletPort}` });
  return errs;
}
