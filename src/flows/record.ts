/**
 * The flow record, JSONL v1 — the contract between the agent (which writes it) and everything
 * that reads recordings (learn, diff, check, graph). See DESIGN.md "Data formats".
 */
import { isIP } from 'node:net';
import { InputError } from '../errors.js';
import { isRfc3339 } from './timestamp.js';

export const FLOW_VERSION = 1;

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** How the connect ended, as far as the kernel told us. */
export type Outcome = 'established' | 'refused' | 'timeout' | 'closed' | 'error';
export const OUTCOMES: readonly Outcome[] = ['established', 'refused', 'timeout', 'closed', 'error'];

export interface FlowSource {
  ip?: string;
  port?: number;
  namespace?: string | null;
  pod?: string | null;
  container?: string | null;
  pid?: number;
  comm?: string;
  [extra: string]: unknown;
}

export interface FlowDestination {
  ip: string;
  port: number;
  namespace?: string | null;
  pod?: string | null;
  service?: string | null;
  [extra: string]: unknown;
}

export interface FlowRecord {
  v: 1;
  id?: string;
  ts?: string;
  node?: string;
  proto: Protocol;
  src: FlowSource;
  dst: FlowDestination;
  latencyNs?: number;
  outcome?: Outcome;
  /** errno of a failed connect(), when outcome is "error". */
  errno?: number;
  /**
   * The protocols the recorder was observing when it recorded this flow (`learn --local` and
   * `learn -l` write it). Absent: TCP only — recordings made before UDP was traced, or by a tool
   * that does not say. `learn` reads it to know whether a workload's DNS lookups could have been
   * seen (see recordedWithUdp).
   */
  observed?: Protocol[];
  [extra: string]: unknown;
}

/** Whether the recorder of this flow was observing UDP sends (so a lookup not recorded did not happen). */
export function recordedWithUdp(rec: FlowRecord): boolean {
  return Array.isArray(rec.observed) && rec.observed.includes('UDP');
}

/** Where a record came from, for error messages and for echoing back in reports. */
export interface FlowOrigin {
  file: string;
  line: number;
}

export type LocatedFlow = FlowRecord & { readonly origin?: FlowOrigin };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A value for an error message, bounded: a wrong field may hold a 100 MB string or a list nested
 * 100,000 deep (JSON.stringify of that overflows the stack), so containers are named, not printed.
 */
export function shownValue(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object' && v !== null) return 'an object';
  if (typeof v === 'string') return v.length > 80 ? `${JSON.stringify(v.slice(0, 80))}… (${v.length} characters)` : JSON.stringify(v);
  return String(v);
}

/** An IP address netpol can match flows by: isIP also takes `fe80::1%eth0`, whose zone names a host's interface. */
function ipProblem(ip: string): string | undefined {
  if (ip.includes('%')) return `an IPv6 zone id is not allowed (${shownValue(ip)}): addresses are matched without the interface`;
  if (isIP(ip) === 0) return `not an IP address: ${shownValue(ip)}`;
  return undefined;
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 65535;
}

/**
 * Turns one parsed JSON value into a FlowRecord or throws an InputError naming the file, line and
 * field. Unknown fields are kept (forward compatibility), wrong types of known fields are errors.
 */
export function parseFlowRecord(value: unknown, file: string, line: number): FlowRecord {
  const fail = (field: string, detail: string): never => {
    throw new InputError(file, detail, line, field);
  };
  if (!isObject(value)) fail('(record)', 'a flow record must be a JSON object');
  const rec = value as Record<string, unknown>;
  if (rec.v !== FLOW_VERSION) fail('v', `unsupported flow record version ${shownValue(rec.v)} (this netpol reads v1)`);
  if (typeof rec.proto !== 'string' || !PROTOCOLS.includes(rec.proto.toUpperCase() as Protocol)) {
    fail('proto', `must be one of ${PROTOCOLS.join(', ')}, got ${shownValue(rec.proto)}`);
  }
  if (!isObject(rec.src)) fail('src', 'missing or not an object');
  if (!isObject(rec.dst)) fail('dst', 'missing or not an object');
  const src = rec.src as Record<string, unknown>;
  const dst = rec.dst as Record<string, unknown>;
  if (typeof dst.ip !== 'string' || dst.ip === '') fail('dst.ip', 'required string');
  const dstIpProblem = ipProblem(dst.ip as string);
  if (dstIpProblem) fail('dst.ip', dstIpProblem);
  if (src.ip !== undefined && src.ip !== null) {
    if (typeof src.ip !== 'string') fail('src.ip', `not an IP address: ${shownValue(src.ip)}`);
    const srcIpProblem = src.ip === '' ? undefined : ipProblem(src.ip as string);
    if (srcIpProblem) fail('src.ip', srcIpProblem);
  }
  if (!isPort(dst.port)) fail('dst.port', `must be an integer 0-65535, got ${shownValue(dst.port)}`);
  const hasSrcIp = typeof src.ip === 'string' && src.ip !== '';
  const hasSrcPod = typeof src.namespace === 'string' && typeof src.pod === 'string';
  if (!hasSrcIp && !hasSrcPod) fail('src', 'needs either src.ip or src.namespace and src.pod');
  if (src.port !== undefined && src.port !== null && !isPort(src.port)) fail('src.port', 'must be an integer 0-65535');
  if (rec.id !== undefined && typeof rec.id !== 'string') fail('id', 'must be a string');
  if (rec.ts !== undefined && (typeof rec.ts !== 'string' || !isRfc3339(rec.ts))) {
    fail('ts', `must be an RFC 3339 timestamp, got ${shownValue(rec.ts)}`);
  }
  if (rec.outcome !== undefined && !OUTCOMES.includes(rec.outcome as Outcome)) {
    fail('outcome', `must be one of ${OUTCOMES.join(', ')}`);
  }
  if (rec.observed !== undefined && (!Array.isArray(rec.observed) || !rec.observed.every((p) => PROTOCOLS.includes(p as Protocol)))) {
    fail('observed', `must be a list of protocols (${PROTOCOLS.join(', ')}), got ${shownValue(rec.observed)}`);
  }
  if (rec.latencyNs !== undefined && (typeof rec.latencyNs !== 'number' || rec.latencyNs < 0)) {
    fail('latencyNs', 'must be a non-negative number');
  }
  for (const key of ['namespace', 'pod', 'container', 'comm'] as const) {
    const v = src[key];
    if (v !== undefined && v !== null && typeof v !== 'string') fail(`src.${key}`, 'must be a string or null');
  }
  for (const key of ['namespace', 'pod', 'service'] as const) {
    const v = dst[key];
    if (v !== undefined && v !== null && typeof v !== 'string') fail(`dst.${key}`, 'must be a string or null');
  }
  if (rec.proto !== 'TCP' && rec.proto !== 'UDP' && rec.proto !== 'SCTP') rec.proto = (rec.proto as string).toUpperCase();
  return rec as FlowRecord;
}
