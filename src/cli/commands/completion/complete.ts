/**
 * Dynamic completion, in cobra's protocol (what kubectl ≥1.26 speaks to plugins): the shell, or
 * kubectl itself through the `kubectl_complete-netpol` executable, runs
 *   netpol __complete <words so far...> <word being completed>
 * and reads one candidate per line (`value<TAB>description`), then `:<directive>`.
 * Commands, options and choices come from the commander tree; namespaces, pods, nodes and
 * containers come from the cluster through the kubeconfig (the one the words name, else the
 * default), contexts from the kubeconfig itself. A cluster query gets a short timeout; when there
 * is no kubeconfig, no cluster or no answer, the completion is just empty — never an error.
 */
import type { Command, Option } from 'commander';

/** cobra's ShellCompDirective values. */
export const DIRECTIVE = { default: 0, error: 1, noSpace: 2, noFileComp: 4 } as const;

/** How long a cluster query may take before completion gives up on it. */
export const CLUSTER_TIMEOUT_MS = 1500;

export interface Completion {
  candidates: { value: string; description?: string }[];
  directive: number;
}

type Dynamic = 'namespaces' | 'contexts' | 'containers' | 'pods' | 'nodes';

/** Values looked up rather than listed: by the option's long name. */
const DYNAMIC: Record<string, Dynamic> = {
  '--namespace': 'namespaces',
  '--context': 'contexts',
  '--containername': 'containers',
  '--container': 'containers',
  '--podname': 'pods',
  '--node': 'nodes',
};

export function dynamicKind(o: Option): Dynamic | undefined {
  return o.long ? DYNAMIC[o.long] : undefined;
}

const FILE_PLACEHOLDER = /<[\w-]*(?:file|path|dir|kubeconfig)[\w-]*(?:\.\.\.)?>/i;

function findOption(cmd: Command, word: string): Option | undefined {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const o = c.options.find((opt) => opt.long === word || opt.short === word);
    if (o) return o;
  }
  return undefined;
}

const takesValue = (o: Option) => o.required || o.optional;

/** What the words say about the cluster to ask: --kubeconfig, --context, -n. */
interface Target {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  podname?: string;
}

export async function complete(program: Command, words: string[]): Promise<Completion> {
  const toComplete = words.at(-1) ?? '';
  const done = words.slice(0, -1);
  let cmd = program;
  let pending: Option | undefined;
  const target: Target = {};
  for (const w of done) {
    if (pending) {
      if (pending.long === '--kubeconfig') target.kubeconfig = w;
      if (pending.long === '--context') target.context = w;
      if (pending.long === '--namespace') target.namespace = w;
      if (pending.long === '--podname') target.podname = w;
      pending = undefined;
      continue;
    }
    if (w.startsWith('-')) {
      const [flag, inline] = w.split('=', 2);
      const o = findOption(cmd, flag!);
      if (o && takesValue(o) && inline === undefined) pending = o;
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (sub) cmd = sub;
  }
  if (pending) return valuesOf(pending, target, toComplete);
  if (toComplete.startsWith('-')) {
    const flags = cmd.options.filter((o) => !o.hidden).flatMap((o) => [o.long, o.short].filter((f): f is string => !!f).map((f) => ({ value: f, description: o.description })));
    return { candidates: filter([...flags, { value: '--help', description: 'display help for command' }], toComplete), directive: DIRECTIVE.noFileComp };
  }
  const subs = cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden).map((c) => ({ value: c.name(), description: c.summary() || c.description().split('\n')[0] }));
  const choices = (cmd.registeredArguments[0]?.argChoices ?? []).map((value) => ({ value }));
  return { candidates: filter([...subs, ...choices], toComplete), directive: DIRECTIVE.noFileComp };
}

function filter(cands: { value: string; description?: string }[], prefix: string) {
  return cands.filter((c) => c.value.startsWith(prefix));
}

async function valuesOf(o: Option, target: Target, toComplete: string): Promise<Completion> {
  if (o.argChoices && o.argChoices.length > 0) return { candidates: filter(o.argChoices.map((value) => ({ value })), toComplete), directive: DIRECTIVE.noFileComp };
  const kind = dynamicKind(o);
  if (kind) return { candidates: filter((await lookup(kind, target)).map((value) => ({ value })), toComplete), directive: DIRECTIVE.noFileComp };
  // Files: let the shell complete them.
  if (FILE_PLACEHOLDER.test(o.flags)) return { candidates: [], directive: DIRECTIVE.default };
  return { candidates: [], directive: DIRECTIVE.noFileComp };
}

/** Names from the kubeconfig or the cluster; [] on any failure or after CLUSTER_TIMEOUT_MS. */
async function lookup(kind: Dynamic, target: Target): Promise<string[]> {
  try {
    const { loadKubeconfig } = await import('../../../cluster/kubeconfig.js');
    const resolved = loadKubeconfig({ kubeconfig: target.kubeconfig, context: target.context, namespace: target.namespace });
    if (kind === 'contexts') return resolved.kc.getContexts().map((c) => c.name);
    const { rawRequest } = await import('../../../cluster/live.js');
    const get = (path: string) => rawRequest(resolved.kc, path, { timeoutMs: CLUSTER_TIMEOUT_MS }) as Promise<{ items?: { metadata?: { name?: string }; spec?: { containers?: { name?: string }[] } }[] }>;
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), CLUSTER_TIMEOUT_MS).unref());
    const ns = encodeURIComponent(resolved.namespace);
    const path = kind === 'namespaces' ? '/api/v1/namespaces' : kind === 'nodes' ? '/api/v1/nodes' : `/api/v1/namespaces/${ns}/pods`;
    const list = await Promise.race([get(path), timeout]);
    let items = list.items ?? [];
    if (kind === 'containers') {
      if (target.podname) items = items.filter((p) => p.metadata?.name === target.podname);
      return [...new Set(items.flatMap((p) => (p.spec?.containers ?? []).map((c) => c.name ?? '')))].filter(Boolean).sort();
    }
    return items.map((i) => i.metadata?.name ?? '').filter(Boolean).sort();
  } catch {
    return [];
  }
}

/** cobra's output: `value\tdescription` lines, then `:directive`. */
export function formatCompletion(c: Completion): string {
  const lines = c.candidates.map((x) => (x.description ? `${x.value}\t${x.description.replace(/\s+/g, ' ').trim()}` : x.value));
  return [...lines, `:${c.directive}`].join('\n') + '\n';
}
