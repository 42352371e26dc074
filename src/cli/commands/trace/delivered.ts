/** Trace from the agents: which connects one node's stream already printed. */
import type { WireConnect } from '../../../daemon/protocol.js';

/**
 * What one node's stream already delivered: a reopened stream (after the connection to the agent
 * broke) asks for the agent's recent past again from the last connect seen, and the ones already
 * printed are recognized and skipped (a connect is its start time, process, ports and phase).
 */
export class Delivered {
  private readonly keys = new Set<string>();
  lastTime: Date | undefined;

  constructor(private readonly capacity = 8192) {}

  /** True the first time this connect (in this phase) is seen. */
  first(c: WireConnect): boolean {
    const e = c.event;
    const key = `${c.when}/${e.tsNs}/${e.pid}/${e.sport}/${e.daddr}/${e.dport}`;
    const time = new Date(c.time);
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > this.capacity) this.keys.delete(this.keys.values().next().value!);
    if (!this.lastTime || time > this.lastTime) this.lastTime = time;
    return true;
  }
}
