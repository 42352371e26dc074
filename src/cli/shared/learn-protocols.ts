/**
 * `learn --proto`: which protocols an observing learn (`--local`, `-l`) records. TCP always (a
 * policy learned without it would deny every TCP connection), UDP by default: with it, DNS lookups
 * are seen, and the DNS rule is learned from them instead of assumed.
 */
import { InvalidArgumentError } from 'commander';
import type { Protocol } from '../../flows/record.js';

export type LearnProtocols = readonly Protocol[];
export const DEFAULT_LEARN_PROTOCOLS: LearnProtocols = ['TCP', 'UDP'];

/** Parses `tcp`, `tcp,udp` (any case and order); anything without tcp, or another name, is refused. */
export function parseLearnProtocols(value: string): LearnProtocols {
  const names = value.split(',').map((v) => v.trim().toUpperCase()).filter((v) => v !== '');
  for (const n of names) {
    if (n !== 'TCP' && n !== 'UDP') throw new InvalidArgumentError(`unknown protocol ${JSON.stringify(n.toLowerCase())}: expected tcp or tcp,udp`);
  }
  if (!names.includes('TCP')) {
    throw new InvalidArgumentError('learn needs tcp (a policy learned without observing TCP would deny every TCP connection): use tcp or tcp,udp');
  }
  return names.includes('UDP') ? ['TCP', 'UDP'] : ['TCP'];
}

/** What a recording says when UDP was wanted but could not be observed (printed once, on stderr). */
export function udpNotObservedWarning(problem: string | undefined): string {
  return (
    `warning: UDP is not observed (${problem ?? 'its hooks could not be attached'}): recording TCP only; ` +
    'the recorded flows say so, and learn adds the assumed DNS rule instead of learning it\n'
  );
}
