/**
 * `kubectl netpol learn --watch [-l SELECTOR] [-n NS|-A] [--since 3d] [--out DIR] [--apply]`: the
 * live learn screen over the cluster-wide TrafficProfile. The profiles are listed and watched
 * (src/cluster/profile/watch.ts); whenever they change — debounced, since a re-learning of a large
 * cluster takes seconds — the same learning as `learn -A` runs again over all of them, and the
 * screen shows the rows (workload, peer, connects) and the policies as they would be written now.
 * On q / Ctrl-C / --duration the policies go where learn's other modes put them (--out, stdout,
 * --apply). Not a terminal (or -o json): plain lines on stderr for every new or changed row.
 */
import { formatEndpoint } from '../../../cluster/endpoint-notation.js';
import type { V1Pod } from '../../../cluster/objects.js';
import { filterSince } from '../../../cluster/profile/reader.js';
import { mergeProfiles, type MergedProfile } from '../../../cluster/profile/merge.js';
import { ProfileWatch } from '../../../cluster/profile/watch.js';
import type { ProfileEdge } from '../../../cluster/profile/types.js';
import { UNANSWERED, type LearnOutcome } from '../../../policy/learn.js';
import type { SynthesisOptions } from '../../../policy/synthesize/index.js';
import type { LearnRow } from '../../views/learn-model.js';
import { PushLearnSource, runLearnPlain, runLearnScreen } from '../../views/learn-screen.js';
import { isInteractive } from '../../views/learn-view.js';
import { SnapshotLearnModel, type LearnSnapshot } from '../../views/snapshot-learn-model.js';
import { emitLearned } from '../../shared/learned-output.js';
import { learnFromReading, prepareProfileLearning, type LearnProfilesIO, type LearnProfilesOptions } from './profiles.js';

export interface LearnWatchOptions extends LearnProfilesOptions {
  /** Stop by itself after this long (ms). */
  duration?: number;
  /** Wait this long after a change before learning again (ms; default 1000). */
  debounceMs?: number;
}

function peerText(e: ProfileEdge): string {
  if (e.via) return formatEndpoint({ kind: 'service', namespace: e.via.namespace, name: e.via.name }, e.via.port);
  if ('workload' in e.peer) return `w/${e.peer.workload.namespace}/${e.peer.workload.name}:${e.port}`;
  if ('address' in e.peer) return formatEndpoint({ kind: 'raw', ip: e.peer.address }, e.port);
  return formatEndpoint({ kind: 'service', namespace: e.peer.service.namespace, name: e.peer.service.name }, e.port);
}

/** One row per learned edge of the workloads in scope (what the policies are learned from). */
function rowsOf(profiles: MergedProfile[], synthesis: SynthesisOptions, includeFailed: boolean | undefined): LearnRow[] {
  const rows: LearnRow[] = [];
  for (const p of profiles) {
    const w = p.workload;
    // The scope (-n, -l) reads a pod: the workload's stand-in, as profile-edges.ts makes it.
    const pod: V1Pod = { metadata: { namespace: w.namespace, name: `${w.kind.toLowerCase()}.${w.name}`, labels: w.labels } };
    if (synthesis.scope && !synthesis.scope(pod, { kind: w.kind, namespace: w.namespace, name: w.name, selector: w.selector })) continue;
    for (const e of p.edges) {
      if (!includeFailed && UNANSWERED.has(e.outcome)) continue;
      rows.push({
        workload: `${w.namespace}/${w.name}`,
        kind: w.kind,
        peer: peerText(e),
        proto: e.protocol as LearnRow['proto'],
        ports: `${e.port}/${e.protocol}`,
        count: e.count,
        lastSeen: Date.parse(e.lastSeen),
      });
    }
  }
  return rows;
}

export async function learnWatch(opts: LearnWatchOptions, io: LearnProfilesIO = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const { kc, description, namespace, contextNamespace, index, synthesis } = await prepareProfileLearning(opts);
  const watch = new ProfileWatch(kc, namespace ?? contextNamespace);
  await watch.start();
  let last: { outcome?: LearnOutcome; error?: Error } = {};
  const take = (): LearnSnapshot => {
    const now = Date.now();
    const objects = watch.list();
    const { profiles, older } = filterSince(mergeProfiles(objects), opts.since !== undefined ? now - opts.since : undefined);
    const reading = { profiles, objects: objects.length, older, ...(watch.narrowedTo ? { narrowedTo: watch.narrowedTo } : {}) };
    const rows = rowsOf(profiles, synthesis, opts.includeFailed);
    const connects = rows.reduce((n, r) => n + r.count, 0);
    try {
      const outcome = learnFromReading(reading, index, synthesis, opts, now);
      last = { outcome };
      return { rows, connects, result: outcome.result };
    } catch (err) {
      last = { error: err as Error };
      return { rows, connects, error: (err as Error).message };
    }
  };
  const model = new SnapshotLearnModel(take, opts.out ? { out: opts.out } : {});
  const scope = `${opts.selector ? `-l ${opts.selector} ` : ''}${namespace === undefined ? 'all namespaces' : `-n ${namespace}`}`;
  stderr.write(`watching ${watch.list().length} TrafficProfiles through ${description}; learning ${scope}\n`);

  // Every profile change counts as an event; learning runs again once changes stop for a moment.
  const source = new PushLearnSource();
  let timer: NodeJS.Timeout | undefined;
  const debounceMs = opts.debounceMs ?? 1000;
  const offWatch = watch.onChange(() => {
    source.countEvents(1);
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      model.update();
    }, debounceMs);
  });
  const session = { mode: 'profiles', selector: scope, model, out: opts.out, write: false, previewEveryMs: 0, ...(opts.duration !== undefined ? { durationMs: opts.duration } : {}) };
  try {
    const shown = isInteractive({ output: opts.output, ...(io.stderr ? { stderr: io.stderr } : {}) })
      ? runLearnScreen(source, session)
      : runLearnPlain(source, { ...session, stream: stderr, output: opts.output === 'json' ? 'json' : 'text' });
    // The first learning, once the view listens (its session subscribed when it was made).
    model.update();
    await shown;
  } finally {
    offWatch();
    clearTimeout(timer);
    await watch.close();
  }
  // The policies of the profiles as they are at the end, written as learn's other modes write them.
  model.update();
  if (last.error) throw last.error;
  await emitLearned(last.outcome!, opts, kc, { stdout, stderr });
  return 0;
}
