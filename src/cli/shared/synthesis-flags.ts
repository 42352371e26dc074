/** The flags that shape synthesis, shared by `learn` (every mode) and `check` (its drift check). */
import type { Command } from 'commander';
import { Option } from 'commander';
import { InputError } from '../../errors.js';
import { parseSelector } from '../../policy/selector.js';
import { INGRESS_MODES, type IngressMode, type SynthesisOptions } from '../../policy/synthesize/index.js';
import { podScope } from './inputs.js';
import { parseIntInRange } from './options.js';

/** Flags that shape synthesis; `check` accepts the same ones so its drift check regenerates alike. */
export interface SynthesisFlags {
  namespace?: string;
  allNamespaces?: boolean;
  selector?: string;
  dns: boolean;
  dnsNamespace?: string;
  dnsSelector?: string;
  ingress: IngressMode;
  aggregateCidr?: boolean | number;
  aggregateCidr6?: number;
  portRanges?: boolean | number;
  includeFailed?: boolean;
  learnDnsWorkload?: boolean;
}

export function addSynthesisOptions(cmd: Command): Command {
  return cmd
    .option('-n, --namespace <ns>', 'only learn policies for workloads in this namespace (default: all namespaces)')
    .option('-A, --all-namespaces', 'learn policies for workloads in every namespace (the default offline)')
    .option('-l, --selector <selector>', 'only learn policies for pods matching this label selector (e.g. run=mypod, app in (a,b))')
    .option('--no-dns', 'do not allow egress to the cluster DNS pods on UDP/TCP 53')
    .option('--dns-namespace <ns>', 'namespace of the cluster DNS pods', 'kube-system')
    .option('--dns-selector <selector>', 'label selector of the cluster DNS pods (default: found from the kube-dns Service, else k8s-app=kube-dns)')
    .addOption(
      new Option('--ingress <mode>', 'observed: Ingress only for workloads with observed inbound traffic; strict: every workload (no inbound observed = none allowed); none: egress only')
        .choices(INGRESS_MODES as string[])
        .default('observed'),
    )
    .option('--aggregate-cidr [prefix]', 'widen: merge addresses into exact covering CIDRs, and with a prefix (e.g. 24) collapse addresses sharing that IPv4 block (reported)', parseIntInRange(1, 32))
    .option('--aggregate-cidr6 <prefix>', 'widen: IPv6 floor prefix for --aggregate-cidr (e.g. 64)', parseIntInRange(1, 128))
    .option('--learn-dns-workload', 'also learn a policy for the cluster DNS pods (left out by default: their UDP clients are not observed)')
    .option('--include-failed', 'also learn connects nobody answered (outcome timeout, closed or error); by default they are left out and counted')
    .option('--port-ranges [gap]', 'widen: contiguous ports become port/endPort ranges; with a gap, ranges may bridge that many unobserved ports (reported)', parseIntInRange(0, 65535));
}

export function synthesisOptions(flags: SynthesisFlags): SynthesisOptions {
  const scope = podScope(flags);
  const options: SynthesisOptions = {
    ingress: flags.ingress,
    dns: flags.dns,
    scope: (pod) => scope(pod),
  };
  if (flags.dnsNamespace) options.dnsNamespace = flags.dnsNamespace;
  if (flags.dnsSelector) options.dnsSelector = parseSelector(flags.dnsSelector, '--dns-selector');
  if (flags.aggregateCidr6 !== undefined && flags.aggregateCidr === undefined) {
    throw new InputError('--aggregate-cidr6', 'needs --aggregate-cidr');
  }
  if (flags.aggregateCidr !== undefined) {
    const floors: { floorV4?: number; floorV6?: number } = {};
    if (typeof flags.aggregateCidr === 'number') floors.floorV4 = flags.aggregateCidr;
    if (flags.aggregateCidr6 !== undefined) floors.floorV6 = flags.aggregateCidr6;
    options.aggregateCidr = Object.keys(floors).length > 0 ? floors : true;
  }
  if (flags.includeFailed) options.includeFailed = true;
  if (flags.learnDnsWorkload) options.learnDnsWorkload = true;
  if (flags.portRanges !== undefined) options.portRanges = typeof flags.portRanges === 'number' ? { gap: flags.portRanges } : true;
  return options;
}
