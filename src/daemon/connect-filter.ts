/**
 * The server-side filters of /v1/connects (namespace, podname, selector, container, when, proto),
 * compiled once per subscriber into a predicate the agent runs per connect: a client far away gets
 * only the connects it asked for, so a narrow trace costs the port-forward almost nothing.
 */
import type { PodConnect } from '../cluster/cluster-agent.js';
import { compileSelector, parseSelector } from '../policy/selector.js';
import { QueryError, type ConnectsQuery, type When } from './protocol.js';

export type ConnectFilter = (c: PodConnect, when: When) => boolean;

/** Compiles a query; a bad selector is a QueryError naming the `selector` parameter. */
export function compileConnectFilter(q: ConnectsQuery): ConnectFilter {
  let selector: ((labels: Record<string, string>) => boolean) | undefined;
  if (q.selector !== undefined) {
    try {
      selector = compileSelector(parseSelector(q.selector, 'selector'));
    } catch (err) {
      throw new QueryError('selector', (err as Error).message.replace(/^selector: /, ''));
    }
  }
  const when = q.when ?? 'connect';
  const proto = q.proto ?? 'TCP';
  return (c, w) =>
    w === when &&
    (proto === 'all' || c.record.proto === proto) &&
    (q.namespace === undefined || c.source.namespace === q.namespace) &&
    (q.podname === undefined || c.source.name === q.podname) &&
    (q.container === undefined || c.source.container === q.container) &&
    (selector === undefined || selector(c.source.pod.metadata?.labels ?? {}));
}
