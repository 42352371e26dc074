/**
 * Synthesis options, validated and defaulted once. Everything past `normalizeOptions` reads the
 * normalized form only, so a default is decided in exactly one place and a bad option fails
 * before any work is done.
 */
import type { Workload } from '../../cluster/lookup.js';
import type { LabelSelector, V1Pod } from '../../cluster/objects.js';
import { NetpolError } from '../../errors.js';
import { validateCidrAggregateOptions, type CidrAggregateOptions } from '../cidr-aggregate.js';
import { validatePortGap } from '../port-ranges.js';
import { INGRESS_MODES, type IngressMode, type SynthesisOptions } from './types.js';

export const DEFAULT_DNS_NAMESPACE = 'kube-system';
export const DEFAULT_DNS_SELECTOR: LabelSelector = { matchLabels: { 'k8s-app': 'kube-dns' } };

export interface NormalizedOptions {
  ingress: IngressMode;
  dns: boolean;
  dnsNamespace: string;
  /** Absent: found from the cluster view (see resolveDnsTarget). */
  dnsSelector?: LabelSelector;
  /** Absent: every pod workload seen in an edge is in scope. */
  scope?: (pod: V1Pod, workload: Workload) => boolean;
  /** Present only when CIDR aggregation was asked for. */
  cidr?: CidrAggregateOptions;
  /** Present only when port ranges were asked for: how many unobserved ports a range may bridge. */
  portGap?: number;
  learnDnsWorkload: boolean;
}

/** Validates and defaults the options; throws NetpolError on a value no mode accepts. */
export function normalizeOptions(options: SynthesisOptions): NormalizedOptions {
  const ingress = options.ingress ?? 'observed';
  if (!INGRESS_MODES.includes(ingress)) {
    throw new NetpolError(`--ingress must be one of ${INGRESS_MODES.join(', ')}, got ${JSON.stringify(ingress)}`);
  }
  let cidr: CidrAggregateOptions | undefined;
  if (options.aggregateCidr) {
    cidr = options.aggregateCidr === true ? {} : options.aggregateCidr;
    validateCidrAggregateOptions(cidr);
  }
  let portGap: number | undefined;
  if (options.portRanges) {
    portGap = options.portRanges === true ? 0 : options.portRanges.gap ?? 0;
    validatePortGap(portGap);
  }
  const out: NormalizedOptions = {
    ingress,
    dns: options.dns ?? true,
    dnsNamespace: options.dnsNamespace ?? DEFAULT_DNS_NAMESPACE,
    learnDnsWorkload: options.learnDnsWorkload ?? false,
  };
  if (options.dnsSelector) out.dnsSelector = options.dnsSelector;
  if (options.scope) out.scope = options.scope;
  if (cidr) out.cidr = cidr;
  if (portGap !== undefined) out.portGap = portGap;
  return out;
}
