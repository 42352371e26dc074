/**
 * `netpol learn`: recorded (or observed) connections → least-privilege NetworkPolicy.
 * Offline from a recording and a snapshot (./offline.ts); `--local` observes this host (./local.ts);
 * `-l/--selector` without `--flows` reads the agents' TrafficProfiles when the cluster has them (./profiles.ts), else observes this node's pods live (./live.ts).
 */
import { Command, Option } from 'commander';
import { DURATION_SYNTAX, parseDuration } from '../../shared/duration.js';
import { addSynthesisOptions } from '../../shared/synthesis-flags.js';
import { learnOffline, type OfflineLearnFlags } from './offline.js';
import { collect } from '../../shared/options.js';
import { InputError } from '../../../errors.js';
import { parseLearnProtocols, type LearnProtocols } from '../../shared/learn-protocols.js';
import { addKubeconfigOptions, addRecordedInputs } from '../../shared/input-options.js';
import { addExamples, runsWithExitCode } from '../../shared/command-help.js';

interface LearnFlags extends OfflineLearnFlags {
  local?: boolean;
  containername?: string;
  duration?: number;
  record?: string;
  latency?: boolean;
  host?: boolean;
  connectErrors?: boolean;
  proto?: LearnProtocols;
  apply?: boolean;
  kubeconfig?: string;
  context?: string;
  since?: number;
  source?: 'auto' | 'profiles' | 'node';
  watch?: boolean;
}

export function learnCommand(): Command {
  const cmd = new Command('learn')
    .summary('learn least-privilege NetworkPolicy from observed connections')
    .description(
      'Turns connections into one NetworkPolicy per workload: egress to exactly the peers and ports seen\n' +
        '(pods by their workload selector, Services as their backing pods on the targetPort, outside\n' +
        'addresses as /32 or /128), ingress for observed inbound traffic, and DNS.',
    );
  addRecordedInputs(cmd, {
    flows: { help: 'recorded flows, JSONL v1 (repeatable; - for stdin; .gz read transparently)' },
    cluster: { help: 'cluster snapshot YAML (repeatable)' },
  });
  cmd
    .option('--out <dir>', 'write <dir>/<namespace>/<workload>.yaml and kustomization.yaml (atomically) instead of printing');
  addSynthesisOptions(cmd);
  cmd
    .addOption(new Option('-o, --output <format>', 'printed format when --out is not given').choices(['yaml', 'json']).default('yaml'))
    .option('--local', 'observe connections on this host (containers and processes) with eBPF')
    .option('-c, --containername <name>', 'with --local: only this container')
    .option('--duration <duration>', `observe for this long (${DURATION_SYNTAX}), then write; default until q/Ctrl-C`, parseDuration)
    .option('--record <file>', 'append observed flows to this JSONL recording as they arrive')
    .option('--no-latency', 'with --local/-l: leave connect latency out of the recording')
    .option('--host', 'with --local: also observe host processes (recorded by address; they get no policy)')
    .option('--connect-errors', 'with --local: also record connect() calls that failed before sending anything (costs every syscall a little)')
    .option(
      '--proto <list>',
      "with --local/-l: protocols to observe, tcp,udp (default: UDP sends are recorded and DNS is learned from the lookups seen) or tcp (DNS assumed)",
      parseLearnProtocols,
    )
    .option('--apply', 'live: apply the learned policies (server-side dry-run first, then apply, showing a diff)')
    .option('--watch', 'from TrafficProfiles: the live screen over the cluster-wide profile, learning again as profiles change; --out/--apply at q, Ctrl-C or --duration')
    .option('--since <duration>', `from TrafficProfiles: only edges last seen within this long (${DURATION_SYNTAX})`, parseDuration)
    .addOption(
      new Option('--source <source>', 'cluster mode: profiles = the TrafficProfiles the agents wrote (needs the CRD); node = observe this node with eBPF (root); auto = profiles when the CRD is installed and no node-only flag (--duration, --record, -c) is given')
        .choices(['auto', 'profiles', 'node'])
        .default('auto'),
    );
  addKubeconfigOptions(cmd);
  addExamples(
    cmd,
    [
      'netpol learn --flows fixtures/demo/flows.jsonl --cluster fixtures/demo/cluster.yaml',
      'netpol learn --flows rec.jsonl --cluster cluster.yaml -n shop --out policies/',
      'netpol learn --flows rec.jsonl --cluster cluster.yaml -l run=mypod --no-dns --aggregate-cidr 24',
      'sudo netpol learn --local -c test-tcp-connect --duration 30s --record rec.jsonl --out policies/',
      'sudo netpol learn --local --proto tcp --duration 30s --out policies/',
      'netpol learn -l run=mypod -n default --duration 5m --out policies/ --apply',
      'kubectl netpol learn -l run=mypod --since 3d --out policies/ --apply',
      'kubectl netpol learn -A --since 14d --out policies/',
      'kubectl netpol learn --watch -n shop --out policies/',
    ],
    '\nModes:\n' +
      '  offline  --flows F... --cluster S   a recording and a `kubectl get ... -o yaml` snapshot\n' +
      '  host     --local [-c NAME]          observe this host with eBPF (needs root)\n' +
      '  profiles -l SELECTOR [-n NS|-A]     the TrafficProfiles the agents wrote (when the CRD is installed)\n' +
      '  watch    --watch [-l S] [-n NS|-A]  the same, live: learned again whenever a profile changes\n' +
      '  cluster  -l SELECTOR [-n NS]        observe this node, enrich through the API server (--source node)\n',
  );
  return runsWithExitCode(cmd, runLearn);
}

async function runLearn(flags: LearnFlags): Promise<number> {
  if (flags.local) {
    if (flags.watch) throw new InputError('--watch', 'watches TrafficProfiles; --local shows its live screen without it');
    if (flags.flows) throw new InputError('--local', 'observes this host; it cannot be combined with --flows');
    const { learnLocal } = await import('./local.js');
    return learnLocal(flags);
  }
  // Not silently ignored: only this host's tracer attaches the syscall hooks for it.
  if (flags.connectErrors) throw new InputError('--connect-errors', 'records failed connect() calls of this host; it needs --local');
  if (flags.flows && flags.flows.length > 0) {
    if (flags.proto) throw new InputError('--proto', 'chooses what --local/-l observe; a recording says itself what was observed (each flow\'s "observed")');
    if (flags.apply) throw new InputError('--apply', 'applies to live learning (-l without --flows); apply offline results with `kubectl apply -k DIR`');
    if (flags.since !== undefined) throw new InputError('--since', 'reads TrafficProfiles; it cannot be combined with --flows (a recording is learned whole)');
    if (flags.watch) throw new InputError('--watch', 'watches TrafficProfiles; it cannot be combined with --flows (a recording is learned whole)');
    return learnOffline(flags);
  }
  if (flags.watch) {
    if (flags.source === 'node') throw new InputError('--watch', 'watches TrafficProfiles; it cannot be combined with --source node (on-node learning shows its live screen without --watch)');
    for (const [flag, given] of [['--record', flags.record], ['-c/--containername', flags.containername]] as const) {
      if (given !== undefined) throw new InputError('--watch', `watches TrafficProfiles; ${flag} belongs to on-node learning (--source node)`);
    }
    const { learnWatch } = await import('./watch.js');
    return learnWatch(flags);
  }
  if (flags.since !== undefined && flags.source === 'node') throw new InputError('--since', 'reads TrafficProfiles; it cannot be combined with --source node');
  if (flags.selector || flags.namespace || flags.allNamespaces || flags.kubeconfig || flags.context || flags.source === 'profiles') {
    if (await useProfiles(flags)) {
      const { learnFromProfiles } = await import('./profiles.js');
      return learnFromProfiles(flags);
    }
    if (flags.since !== undefined) throw new InputError('--since', 'reads TrafficProfiles, and this cluster has none (trafficprofiles.netpol.io is not installed)');
    // Loaded lazily: the live path pulls in @kubernetes/client-node, which offline runs never need.
    const live = './live.js';
    const { learnLive } = (await import(live)) as { learnLive: (f: LearnFlags) => Promise<number> };
    return learnLive(flags);
  }
  throw new InputError('learn', 'nothing to learn from: give --flows F --cluster S (offline), --local (this host) or -l SELECTOR (live cluster); see `netpol learn --help`');
}

/**
 * Cluster mode's source: the TrafficProfiles when asked for, or — by default — when the API server
 * serves them and no flag of on-node observation was given; else this node, observed with eBPF.
 */
async function useProfiles(flags: LearnFlags): Promise<boolean> {
  if (flags.source === 'profiles') return true;
  if (flags.source === 'node') return false;
  if (flags.duration !== undefined || flags.record !== undefined || flags.containername !== undefined) return false;
  const { loadKubeconfig } = await import('../../../cluster/kubeconfig.js');
  const { profilesServed } = await import('../../../cluster/profile/client.js');
  return profilesServed(loadKubeconfig({ kubeconfig: flags.kubeconfig, context: flags.context }).kc);
}
