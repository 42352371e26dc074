/**
 * Verdict classes: a key per Traffic such that two Traffic with the same key get the same verdict
 * from `evaluate(set, …)` for the one compiled PolicySet the keys were made for. A caller that judges
 * many Traffic (the synthesizer's self-check: one per Service backend per edge, ~220k on a large
 * learn) judges one per class and reuses the answer.
 *
 * Why the key is sound — everything evaluate.ts (with exemptions.ts, target.ts, peer-matcher.ts,
 * port-matcher.ts) reads from a Traffic, and where the key holds it:
 * - traffic.port and traffic.proto: in the key.
 * - Which gates apply (exemptions.gateStatus): each end's kind and isPolicyPod (a pod's
 *   spec.hostNetwork), then isSelfTraffic, toOwnNode and fromOwnNode. The ends' kinds and
 *   hostNetwork are in the endpoint class below; the three relations are computed from the Traffic
 *   itself and put in the key as flags (node names and pod names are read nowhere else).
 * - The policies selecting a pod end (PolicySet.selecting): its namespace, its labels and
 *   isPolicyPod; all in the endpoint class. (The evaluator caches that per pod object from the
 *   endpoint's fields; podEndpoint always takes them from that same pod, so content and object
 *   agree.)
 * - Rule peers, matched against the other end: pod peers read isPolicyPod, namespace,
 *   namespaceLabels and labels (all in the class); ipBlock peers read the address. The address
 *   is in the class only when it lies inside the `cidr` of at least one ipBlock of the set: an
 *   address outside every block's cidr matches no ipBlock peer (the `except` entries can only take
 *   more addresses out), so for it the address cannot change any verdict.
 * - Rule ports: numeric ones read port and proto only; a named port is resolved on the destination
 *   pod's own container ports. When the set has any named port, the destination's class includes
 *   the identity of its pod object, i.e. no two different destination pods share a class.
 * Anything not listed (workload, pod names, the `via` Service, node names of pods) is never read
 * for the verdict; it only appears in explanations, which callers make from the real Traffic.
 */
import type { V1Pod } from '../cluster/objects.js';
import type { PolicySet } from './evaluate.js';
import { fromOwnNode, isSelfTraffic, toOwnNode } from './exemptions.js';
import { ipBlockMatchesParsed, parseIpv4ForMatch, type IpBlockPeerMatcher } from './peer-matcher.js';
import type { Endpoint, Traffic } from './traffic.js';

/**
 * Returns the verdict class of a Traffic under `set` (see the module comment): a small integer,
 * dense from 0, so callers can keep one answer per class in an array.
 */
export type VerdictClassifier = (traffic: Traffic) => number;

function sortedEntries(labels: Readonly<Record<string, string>>): [string, string][] {
  return Object.keys(labels)
    .sort()
    .map((k) => [k, labels[k]!]);
}

export function verdictClassifier(set: PolicySet): VerdictClassifier {
  // Every ipBlock cidr of the set, without its excepts: "could some ipBlock match this address?".
  const hostsV4 = new Set<number>();
  const blocks: IpBlockPeerMatcher[] = [];
  const seenBlocks = new Set<string>();
  let namedPorts = false;
  for (const target of set.targets) {
    for (const rule of [...target.ingress, ...target.egress]) {
      if (rule.namedPorts.length > 0) namedPorts = true;
      for (const peer of rule.peers ?? []) {
        if (peer.kind !== 'ipBlock') continue;
        const c = peer.cidr;
        if (c.family === 4 && c.mask === 0xffffffff) {
          hostsV4.add(c.base);
          continue;
        }
        const key = `${c.family}|${c.text}`;
        if (seenBlocks.has(key)) continue;
        seenBlocks.add(key);
        blocks.push({ ...peer, except: [] });
      }
    }
  }
  const inSomeBlock = (ip: string | undefined): boolean => {
    if (ip === undefined || ip === '') return false;
    const v4 = parseIpv4ForMatch(ip);
    if (v4 >= 0 && hostsV4.has(v4)) return true;
    for (let i = 0; i < blocks.length; i++) if (ipBlockMatchesParsed(blocks[i]!, v4, ip)) return true;
    return false;
  };

  // Endpoint → class number, once per endpoint object (pod endpoints are shared across flows).
  const classIds = new Map<string, number>();
  const byEndpoint = new WeakMap<Endpoint, number>();
  const podIds = new WeakMap<V1Pod, number>();
  let nextPodId = 0;
  const labelText = new WeakMap<object, string>();
  const textOf = (labels: Readonly<Record<string, string>>): string => {
    let t = labelText.get(labels);
    if (t === undefined) labelText.set(labels, (t = JSON.stringify(sortedEntries(labels))));
    return t;
  };
  const classOf = (e: Endpoint, isDst: boolean): number => {
    if (isDst && namedPorts) return classOfUncached(e, true);
    let id = byEndpoint.get(e);
    if (id === undefined) {
      id = classOfUncached(e, false);
      byEndpoint.set(e, id);
    }
    return id;
  };
  const classOfUncached = (e: Endpoint, withPod: boolean): number => {
    const ip = inSomeBlock(e.ip) ? e.ip! : '';
    let key: string;
    if (e.kind === 'external') key = `e\u0000${ip}`;
    else {
      let pod = '';
      if (withPod) {
        let n = podIds.get(e.pod);
        if (n === undefined) podIds.set(e.pod, (n = nextPodId++));
        pod = String(n);
      }
      key = `p\u0000${e.pod.spec?.hostNetwork === true ? 1 : 0}\u0000${e.namespace}\u0000${textOf(e.labels)}\u0000${textOf(e.namespaceLabels)}\u0000${ip}\u0000${pod}`;
    }
    let id = classIds.get(key);
    if (id === undefined) classIds.set(key, (id = classIds.size));
    return id;
  };

  // (src class → dst class → protocol → port and flags) → traffic class, without a string per Traffic.
  const traffic: Map<number, Map<string, Map<number | string, number>>>[] = [];
  let classes = 0;
  return (t) => {
    const flags = (isSelfTraffic(t) ? 1 : 0) | (toOwnNode(t) ? 2 : 0) | (fromOwnNode(t) ? 4 : 0);
    const src = classOf(t.src, false);
    const dst = classOf(t.dst, true);
    const bySrc = (traffic[src] ??= new Map());
    let byDst = bySrc.get(dst);
    if (!byDst) bySrc.set(dst, (byDst = new Map()));
    let byProto = byDst.get(t.proto);
    if (!byProto) byDst.set(t.proto, (byProto = new Map()));
    const port = t.port;
    const key = Number.isInteger(port) && port >= 0 && port <= 65535 ? port * 8 + flags : `${port},${flags}`;
    let id = byProto.get(key);
    if (id === undefined) byProto.set(key, (id = classes++));
    return id;
  };
}
