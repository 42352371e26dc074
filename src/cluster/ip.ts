/** IP address helpers shared by the cluster index, the evaluator and the synthesizer. */
import { isIP } from 'node:net';

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
  if (family === 4) {
    return ip.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  }
  if (family === 6) {
    // The 128-bit value, IPv4-mapped addresses included: a family-6 CIDR base must stay family 6.
    // Canonicalize first where a mapped address should count as its IPv4 value (cidrContains).
    let canonical = normalIpv6(ip);
    const v4tail = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(canonical);
    if (v4tail) {
      const v = ipToBigInt(v4tail[2]!);
      canonical = `${v4tail[1]}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
    }
    const [head = '', tail = ''] = canonical.split('::');
    const headParts = head ? head.split(':') : [];
    const tailParts = canonical.includes('::') ? (tail ? tail.split(':') : []) : [];
    const zeros = 8 - headParts.length - tailParts.length;
    const parts = [...headParts, ...Array<string>(canonical.includes('::') ? zeros : 0).fill('0'), ...tailParts];
    return parts.reduce((acc, h) => (acc << 16n) | BigInt(parseInt(h, 16)), 0n);
  }
  throw new Error(`not an IP address: ${ip}`);
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
