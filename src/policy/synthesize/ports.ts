/**
 * Ports as the synthesizer handles them: a protocol and port packed into one number (the key
 * rules group and sort by), and the port specs (single ports or ranges) rules are rendered from.
 */
import type { Protocol } from '../../flows/record.js';

/** One port or, with endPort, a range of one protocol. */
export interface PortSpec {
  proto: Protocol;
  port: number;
  endPort?: number;
}

export const PROTOCOL_ORDER: Record<string, number> = { TCP: 0, UDP: 1, SCTP: 2 };

/** The protocols in rule order: TCP, then UDP, then SCTP. */
export const PROTOCOL_BY_ORDER: Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** A protocol and port as one number (protocol order × 65536 + port): cheap to hash and to sort. */
export function portKey(proto: string, port: number): number {
  return (PROTOCOL_ORDER[proto] ?? 0) * 65536 + port;
}

export function parsePortKey(key: number): { proto: Protocol; port: number } {
  return { proto: PROTOCOL_BY_ORDER[Math.floor(key / 65536)]!, port: key % 65536 };
}

export function comparePorts(a: PortSpec, b: PortSpec): number {
  return (PROTOCOL_ORDER[a.proto] ?? 9) - (PROTOCOL_ORDER[b.proto] ?? 9) || a.port - b.port || (a.endPort ?? a.port) - (b.endPort ?? b.port);
}

/** `TCP/80`, or `TCP/8000-8010` for a range: how widenings name ports. */
export function formatPort(p: PortSpec): string {
  return p.endPort === undefined ? `${p.proto}/${p.port}` : `${p.proto}/${p.port}-${p.endPort}`;
}
