/**
 * CIDRs as NetworkPolicy `ipBlock` reads them. The API server parses these legacy fields with
 * k8s.io/utils/net ParseCIDRSloppy (Go 1.16 rules), so it accepts IPv4 octets and prefixes with
 * leading zeros, read as DECIMAL (`010.0.0.0/8` is 10.0.0.0/8), host bits set (`10.0.0.1/8` is the
 * network 10.0.0.0/8) and IPv4-mapped IPv6 blocks (`::ffff:10.0.0.0/104`). netpol accepts the same
 * spellings so it neither rejects what `kubectl apply` takes nor reads it differently.
 *
 * An IPv4-mapped IPv6 block stays an IPv6 block: like Go's IPNet.Contains (and ip6tables, which
 * never sees IPv4 packets), it does not match IPv4 addresses, and netpol spells every IPv4-mapped
 * address as plain IPv4 (canonicalIp), so such a block matches no traffic at all.
 */
import { ipFamily, ipToBigInt, type Cidr } from '../flows/ip.js';

const SLOPPY_V4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/;

function sloppyIpv4Value(text: string): bigint | undefined {
  const m = SLOPPY_V4.exec(text);
  if (!m) return undefined;
  let value = 0n;
  for (let i = 1; i <= 4; i++) {
    const octet = Number.parseInt(m[i]!, 10);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

/** Parses an ipBlock CIDR the way the API server does; undefined when the server would reject it. */
export function parsePolicyCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  if (slash < 0 || text.indexOf('/', slash + 1) >= 0) return undefined;
  const addr = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  let family: 4 | 6;
  let value: bigint | undefined;
  const v4 = sloppyIpv4Value(addr);
  if (v4 !== undefined) {
    family = 4;
    value = v4;
  } else if (ipFamily(addr) === 6) {
    family = 6;
    // The 128-bit value: an IPv4-mapped block (`::ffff:10.0.0.0/104`) stays an IPv6 block.
    value = ipToBigInt(addr);
  } else {
    return undefined;
  }
  const bits = family === 4 ? 32 : 128;
  if (prefix > bits) return undefined;
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return { family, base: value & mask, prefix };
}

/** True when `inner` is a strict subset of `outer` (same family, longer prefix, inside). */
export function isStrictSubnet(inner: Cidr, outer: Cidr): boolean {
  if (inner.family !== outer.family || inner.prefix <= outer.prefix) return false;
  const shift = BigInt((outer.family === 4 ? 32 : 128) - outer.prefix);
  return inner.base >> shift === outer.base >> shift;
}
