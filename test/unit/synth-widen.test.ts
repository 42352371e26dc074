import { describe, expect, it } from 'vitest';
import { parseCidr, formatCidr, type Cidr } from '../../src/flows/ip.js';
import { aggregateAddresses, exactCover } from '../../src/policy/cidr-aggregate.js';
import { compressPorts } from '../../src/policy/port-ranges.js';
import { synthesize } from '../../src/policy/synthesize/index.js';
import * as f from './support/synth-factory.js';

const cidrs = (...list: string[]): Cidr[] => list.map((c) => parseCidr(c)!);

describe('exactCover', () => {
  it('merges sibling host blocks into the smallest exact cover, repeatedly', () => {
    expect(exactCover(cidrs('10.0.0.0/32', '10.0.0.1/32')).map(formatCidr)).toEqual(['10.0.0.0/31']);
    expect(exactCover(cidrs('10.0.0.3/32', '10.0.0.1/32', '10.0.0.2/32', '10.0.0.0/32')).map(formatCidr)).toEqual(['10.0.0.0/30']);
  });

  it('does not merge non-siblings (adjacent but across a boundary)', () => {
    expect(exactCover(cidrs('10.0.0.1/32', '10.0.0.2/32')).map(formatCidr)).toEqual(['10.0.0.1/32', '10.0.0.2/32']);
  });

  it('drops blocks contained in others and keeps families apart', () => {
    expect(exactCover(cidrs('10.0.0.0/24', '10.0.0.7/32', '2001:db8::/127', '2001:db8::1/128')).map(formatCidr)).toEqual(['10.0.0.0/24', '2001:db8::/127']);
  });
});

describe('aggregateAddresses', () => {
  it('exact cover only without a floor: nothing added', () => {
    expect(aggregateAddresses(['192.0.2.4', '192.0.2.5', '192.0.2.9'])).toEqual([
      { cidr: '192.0.2.4/31', members: ['192.0.2.4', '192.0.2.5'], exact: true, added: 0n },
      { cidr: '192.0.2.9/32', members: ['192.0.2.9'], exact: true, added: 0n },
    ]);
  });

  it('collapses several addresses within one floor block into it, leaves a lone address alone', () => {
    const blocks = aggregateAddresses(['192.0.2.7', '192.0.2.200', '198.51.100.1'], { floorV4: 24 });
    expect(blocks.map((b) => [b.cidr, b.members, b.exact])).toEqual([
      ['192.0.2.0/24', ['192.0.2.7', '192.0.2.200'], false],
      ['198.51.100.1/32', ['198.51.100.1'], true],
    ]);
    expect(blocks[0]!.added).toBe(254n);
  });

  it('re-merges floor blocks that are siblings (exactly, no further widening)', () => {
    const blocks = aggregateAddresses(['10.1.0.1', '10.1.0.2', '10.1.1.1', '10.1.1.2'], { floorV4: 24 });
    expect(blocks.map((b) => b.cidr)).toEqual(['10.1.0.0/23']);
  });

  it('has a separate IPv6 floor, and an IPv4 floor does not touch IPv6', () => {
    expect(aggregateAddresses(['2001:db8::1', '2001:db8::ff'], { floorV4: 24 }).map((b) => b.cidr)).toEqual(['2001:db8::1/128', '2001:db8::ff/128']);
    expect(aggregateAddresses(['2001:db8::1', '2001:db8::ff', '192.0.2.1'], { floorV6: 64 }).map((b) => b.cidr)).toEqual(['192.0.2.1/32', '2001:db8::/64']);
  });

  it('rejects an impossible floor', () => {
    expect(() => aggregateAddresses(['192.0.2.1'], { floorV4: 33 })).toThrow(/IPv4 floor prefix must be an integer from 1 to 32/);
    expect(() => aggregateAddresses(['192.0.2.1'], { floorV6: 0 })).toThrow(/IPv6 floor/);
  });
});

describe('compressPorts', () => {
  it('ranges contiguous ports and keeps others single', () => {
    expect(compressPorts([8002, 8000, 8001, 9000, 9002])).toEqual([
      { port: 8000, endPort: 8002, members: [8000, 8001, 8002], added: 0 },
      { port: 9000, members: [9000], added: 0 },
      { port: 9002, members: [9002], added: 0 },
    ]);
  });

  it('bridges up to `gap` missing ports when asked', () => {
    expect(compressPorts([9000, 9002, 9010], 1)).toEqual([
      { port: 9000, endPort: 9002, members: [9000, 9002], added: 1 },
      { port: 9010, members: [9010], added: 0 },
    ]);
  });
});

describe('widening in synthesize', () => {
  const app = f.deployment('app', { labels: { app: 'app' }, pods: [{ ip: '10.0.1.1' }] });
  const backend = f.deployment('backend', { labels: { app: 'backend' }, pods: [{ ip: '10.0.1.9' }] });
  const index = f.cluster(app, backend);
  const src = `default/${app.pods[0]!.metadata!.name}`;
  const flows = [
    f.flow(src, '192.0.2.4', 443),
    f.flow(src, '192.0.2.5', 443),
    f.flow(src, '192.0.2.77', 443),
    f.flow(src, '192.0.2.77', 80),
    f.flow(src, '198.51.100.1', 443),
    f.flow(src, '10.0.1.9', 8000),
    f.flow(src, '10.0.1.9', 8001),
    f.flow(src, '10.0.1.9', 8002),
    f.flow(src, '10.0.1.9', 8004),
  ];
  const egressOf = (opts: Parameters<typeof synthesize>[2]) => {
    const result = synthesize(f.edges(index, flows), index, { dns: false, ...opts });
    return { result, egress: result.policies.find((p) => p.path === 'default/app.yaml')!.policy.spec!.egress };
  };

  it('widens nothing and reports nothing without the options', () => {
    const { result, egress } = egressOf({});
    expect(result.widened).toEqual([]);
    const text = JSON.stringify(egress);
    expect(text).not.toContain('endPort');
    expect(text.match(/\/32/g)).toHaveLength(4);
  });

  it('aggregateCidr: exact cover per port, reported as adding nothing', () => {
    const { result, egress } = egressOf({ aggregateCidr: true });
    expect(egress).toContainEqual({
      to: [{ ipBlock: { cidr: '192.0.2.4/31' } }, { ipBlock: { cidr: '198.51.100.1/32' } }],
      ports: [{ protocol: 'TCP', port: 443 }],
    });
    expect(egress).toContainEqual({
      to: [{ ipBlock: { cidr: '192.0.2.77/32' } }],
      ports: [{ protocol: 'TCP', port: 80 }, { protocol: 'TCP', port: 443 }],
    });
    expect(result.widened).toEqual([
      {
        policy: 'default/app',
        direction: 'egress',
        kind: 'cidr',
        from: ['192.0.2.4/32', '192.0.2.5/32'],
        to: '192.0.2.4/31',
        scope: 'TCP/443',
        reason: 'exact cover: the block holds only observed addresses',
      },
    ]);
  });

  it('aggregateCidr with a floor: addresses sharing a /24 on a port collapse, lone ones stay', () => {
    const { result, egress } = egressOf({ aggregateCidr: { floorV4: 24 } });
    expect(egress).toEqual([
      { to: [{ podSelector: { matchLabels: { app: 'backend' } } }], ports: [8000, 8001, 8002, 8004].map((port) => ({ protocol: 'TCP', port })) },
      { to: [{ ipBlock: { cidr: '192.0.2.0/24' } }, { ipBlock: { cidr: '198.51.100.1/32' } }], ports: [{ protocol: 'TCP', port: 443 }] },
      // Port 80 was seen on one address only: it does not gain the /24.
      { to: [{ ipBlock: { cidr: '192.0.2.77/32' } }], ports: [{ protocol: 'TCP', port: 80 }] },
    ]);
    expect(result.widened).toEqual([
      {
        policy: 'default/app',
        direction: 'egress',
        kind: 'cidr',
        from: ['192.0.2.4/32', '192.0.2.5/32', '192.0.2.77/32'],
        to: '192.0.2.0/24',
        scope: 'TCP/443',
        reason: 'floor /24: 3 observed addresses in one block, 253 more allowed',
      },
    ]);
  });

  it('portRanges: contiguous ports become port/endPort per peer, reported', () => {
    const { result, egress } = egressOf({ portRanges: true });
    // The backend's ingress gets the same range (it received those ports); only the client's is checked here.
    const widened = result.widened.filter((w) => w.policy === 'default/app');
    expect(egress![0]).toEqual({
      to: [{ podSelector: { matchLabels: { app: 'backend' } } }],
      ports: [
        { protocol: 'TCP', port: 8000, endPort: 8002 },
        { protocol: 'TCP', port: 8004 },
      ],
    });
    expect(widened).toEqual([
      {
        policy: 'default/app',
        direction: 'egress',
        kind: 'port-range',
        from: ['TCP/8000', 'TCP/8001', 'TCP/8002'],
        to: 'TCP/8000-8002',
        scope: 'pods default/{app=backend}',
        reason: 'contiguous ports: no port added',
      },
    ]);
  });

  it('portRanges with a gap bridges missing ports and says how many were added', () => {
    const { result, egress } = egressOf({ portRanges: { gap: 1 } });
    expect(egress![0]!.ports).toEqual([{ protocol: 'TCP', port: 8000, endPort: 8004 }]);
    expect(result.widened.map((w) => [w.policy, w.direction, w.to, w.reason])).toEqual([
      ['default/app', 'egress', 'TCP/8000-8004', 'gap ≤ 1: 1 unobserved port allowed'],
      ['default/backend', 'ingress', 'TCP/8000-8004', 'gap ≤ 1: 1 unobserved port allowed'],
    ]);
  });

  it('widens ingress ipBlocks too', () => {
    const idx = f.cluster(app);
    const result = synthesize(
      f.edges(idx, [f.flow('203.0.113.1', '10.0.1.1', 8443), f.flow('203.0.113.0', '10.0.1.1', 8443)]),
      idx,
      { aggregateCidr: true, dns: false },
    );
    expect(result.policies[0]!.policy.spec!.ingress).toEqual([{ from: [{ ipBlock: { cidr: '203.0.113.0/31' } }], ports: [{ protocol: 'TCP', port: 8443 }] }]);
    expect(result.widened.map((w) => [w.direction, w.to])).toEqual([['ingress', '203.0.113.0/31']]);
  });
});
