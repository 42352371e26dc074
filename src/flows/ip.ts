/**
 * IP addresses, the one module: canonical spelling, family, the address as bytes, bigint and text,
 * and CIDRs. In flows, the lowest layer that holds addresses, so the agent's event codec, the
 * cluster index, the evaluator and the synthesizer all import it downward. Text is parsed by
 * ipaddr.js (after node:net's isIP has said it is an address); formatIPv6 stays by hand because
 * the agent formats every IPv6 event with it. Not here on purpose: the flow scanner's in-place
 * checks (line-scan.ts, measured) and the API server's sloppy ipBlock rules (policy/policy-cidr.ts,
 * which reads what `kubectl apply` takes).
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * One spelling per address, so lookups by IP never miss on `2001:DB8::1` vs `2001:db8:0::1` or on an
 * IPv4-mapped IPv6 address (what an AF_INET6 socket reports for an IPv4 peer).
 */
export function canonicalIp(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (ipFamily(ip) !== 6) return ip;
  const normal = normalIpv6(ip);
  // Every spelling of an IPv4-mapped address (`0:0:0:0:0:ffff:10.0.0.2`, `::ffff:a00:2`) normalizes
  // to `::ffff:` and a 32-bit tail.
  const tail = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(normal);
  if (tail) {
    const hi = parseInt(tail[1]!, 16);
    const lo = parseInt(tail[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return normal;
}

/** The WHATWG spelling of an IPv6 address: lower case, zeros compressed, IPv4 tails in hex. */
function normalIpv6(ip: string): string {
  return new URL(`http://[${ip}]`).hostname.slice(1, -1);
}

/**
 * 0 for anything but a plain address: isIP also takes a zone id (`fe80::1%eth0`), which names an
 * interface of one host, not an address netpol can match (and the URL parser behind normalIpv6
 * throws on it). Inputs refuse zones at the boundary; here they are simply not addresses.
 */
export function ipFamily(ip: string): 4 | 6 | 0 {
  if (ip.includes('%')) return 0;
  return isIP(ip) as 4 | 6 | 0;
}

/** The address as a bigint, for CIDR containment and aggregation. */
export function ipToBigInt(ip: string): bigint {
  const family = ipFamily(ip);
  if (family === 0) throw new Error(`not an IP address: ${ip}`);
  // The 128-bit value for family 6, IPv4-mapped addresses included: a family-6 CIDR base must stay
  // family 6. Canonicalize first where a mapped address should count as its IPv4 value (cidrContains).
  // IPv4 by hand: isIP allows only plain decimal octets, and this is a third faster than ipaddr.js.
  if (family === 4) return ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  const bytes = addressBytes(ip, family);
  let value = 0n;
  for (let i = 0; i < 16; i++) value = (value << 8n) | BigInt(bytes[i]!);
  return value;
}

/** 16 bytes in network order (IPv4 in the first four), as struct tcpconnect_event holds them. */
export function addressBytes(ip: string, family: 4 | 6): Buffer {
  const out = Buffer.alloc(16);
  const parsed = family === 4 ? ipaddr.IPv4.parse(ip) : ipaddr.IPv6.parse(ip);
  out.set(parsed.toByteArray());
  return out;
}

/**
 * RFC 5952 text form: lower case, longest run of zero groups compressed, v4-mapped kept dotted.
 * By hand, not ipaddr.js: the agent formats every IPv6 connect with it, from the ring buffer's bytes.
 */
export function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function bigIntToIp(value: bigint, family: 4 | 6): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.');
  }
  const parts: string[] = [];
  for (let i = 7; i >= 0; i--) parts.push(((value >> BigInt(i * 16)) & 0xffffn).toString(16));
  // Not canonicalIp: an IPv6 value stays an IPv6 address even in the IPv4-mapped range.
  return normalIpv6(parts.join(':'));
}

export interface Cidr {
  family: 4 | 6;
  base: bigint;
  prefix: number;
}

/** Parses `a.b.c.d/n` or `x::/n`; returns undefined when it is not a valid CIDR. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return undefined;
  const addr = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = ipFamily(addr);
  if (family === 0 || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  const bits = family === 4 ? 32 : 128;
  if (prefix > bits) return undefined;
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return { family, base: ipToBigInt(addr) & mask, prefix };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const family = ipFamily(canonicalIp(ip));
  if (family !== cidr.family) return false;
  const bits = family === 4 ? 32 : 128;
  const shift = BigInt(bits - cidr.prefix);
  return ipToBigInt(canonicalIp(ip)) >> shift === cidr.base >> shift;
}

export function formatCidr(cidr: Cidr): string {
  return `${bigIntToIp(cidr.base, cidr.family)}/${cidr.prefix}`;
}

/** The /32 or /128 that names exactly one address. */
export function hostCidr(ip: string): string {
  const c = canonicalIp(ip);
  return `${c}/${ipFamily(c) === 6 ? 128 : 32}`;
}
