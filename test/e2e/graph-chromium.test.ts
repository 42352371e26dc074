/**
 * The HTML graph in a real browser: `netpol graph -o html` on the screens fixture, opened in
 * headless Debian Chromium. The DOM after the page's scripts ran holds every node and edge with its
 * verdict, search works, and the screenshot shows the boxes and the red and green edges.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphCommand } from '../../src/cli/commands/graph/index.js';
import { STATUS_COLORS } from '../../src/cli/commands/graph/model.js';
import { bigFixture, writeScreensFixture } from '../unit/support/screens-fixture.js';
import { dumpDom, screenshot } from './support/chromium.js';
import { countColor, distinctColors, readPng } from './support/png.js';

const dir = mkdtempSync(join(tmpdir(), 'netpol-graph-e2e-'));
const html = join(dir, 'graph.html');
const url = pathToFileURL(html).href;

async function runGraph(args: string[]): Promise<void> {
  const cmd = graphCommand().exitOverride();
  const stderr = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    await cmd.parseAsync(args, { from: 'user' });
  } finally {
    process.stderr.write = stderr;
  }
}

beforeAll(async () => {
  const f = writeScreensFixture(dir);
  await runGraph(['--flows', f.flows, '--cluster', f.cluster, '--policies', f.policies, '-o', 'html', '--out', html]);
});

afterAll(() => {
  if (!process.env.NETPOL_KEEP_E2E) rmSync(dir, { recursive: true, force: true });
});

function attr(dom: string, name: string): string | undefined {
  return new RegExp(`<body[^>]*\\s${name}="([^"]*)"`).exec(dom)?.[1];
}

describe('graph HTML in headless Chromium', () => {
  it('the page ran its script and holds every node and edge with its verdict', async () => {
    const dom = await dumpDom(url);
    expect(attr(dom, 'data-ready')).toBe('true');
    expect(attr(dom, 'data-nodes')).toBe('7');
    expect(attr(dom, 'data-edges')).toBe('5');
    const nodeIds = [...dom.matchAll(/<g class="node [^"]*" data-id="([^"]+)"/g)].map((m) => m[1]);
    expect(nodeIds.sort()).toEqual([
      'w/default/Pod/mypod',
      'w/payments/Pod/ledger-0',
      'w/shop/Deployment/web',
      'w/shop/Pod/api-0',
      'x/1.0.0.1',
      'x/1.1.1.1',
      'x/203.0.113.10',
    ]);
    const edges = [...dom.matchAll(/<g class="edge (\w+)[^"]*" data-id="([^"]+)"/g)].map((m) => `${m[2]!.replace('&gt;', '>')} ${m[1]}`);
    expect(edges.sort()).toEqual([
      'w/default/Pod/mypod->x/1.0.0.1 denied',
      'w/default/Pod/mypod->x/1.1.1.1 allowed',
      'w/shop/Deployment/web->w/shop/Pod/api-0 allowed',
      'w/shop/Pod/api-0->w/payments/Pod/ledger-0 denied',
      'w/shop/Pod/api-0->x/203.0.113.10 allowed',
    ]);
    // The script applied the zoom/pan transform.
    expect(dom).toMatch(/<g id="viewport" transform="translate\([-\d.]+,[-\d.]+\) scale\([\d.]+\)">/);
  });

  it('search from the URL marks the matching node and its connections', async () => {
    const dom = await dumpDom(`${url}#search=ledger`);
    expect(attr(dom, 'data-matches')).toBe('1');
    expect(dom).toMatch(/<g class="node workload (?:selected match|match selected)" data-id="w\/payments\/Pod\/ledger-0"/);
    expect(dom).toMatch(/<g class="edge denied hot" data-id="w\/shop\/Pod\/api-0-&gt;w\/payments\/Pod\/ledger-0"/);
    expect(dom).toMatch(/<g class="node external dim" data-id="x\/1\.1\.1\.1"/);
    expect(dom).toContain('<span id="matches">1 match</span>');
  });

  it('the screenshot shows boxes and red and green edges', async () => {
    const png = join(dir, 'graph.png');
    await screenshot(url, png, 1400, 900);
    expect(existsSync(png)).toBe(true);
    expect(statSync(png).size).toBeGreaterThan(20_000);
    const img = readPng(readFileSync(png));
    expect([img.width, img.height]).toEqual([1400, 900]);
    expect(distinctColors(img)).toBeGreaterThan(200); // text, boxes and curves, not a blank page
    expect(countColor(img, STATUS_COLORS.denied, 30)).toBeGreaterThan(150);
    expect(countColor(img, STATUS_COLORS.allowed, 30)).toBeGreaterThan(150);
    expect(countColor(img, '#e3f2fd', 6)).toBeGreaterThan(5_000); // workload boxes' fill
  });

  it('renders a few hundred workloads', async () => {
    const { clusterYaml, flows } = bigFixture(12, 25);
    const cluster = join(dir, 'big-cluster.yaml');
    const recording = join(dir, 'big-flows.jsonl');
    const big = join(dir, 'big.html');
    writeFileSync(cluster, clusterYaml);
    writeFileSync(recording, flows.map((f) => JSON.stringify(f)).join('\n') + '\n');
    await runGraph(['--flows', recording, '--cluster', cluster, '--out', big]);
    const dom = await dumpDom(pathToFileURL(big).href, 1600, 1000);
    expect(attr(dom, 'data-ready')).toBe('true');
    expect(Number(attr(dom, 'data-nodes'))).toBeGreaterThan(300);
    expect(Number(attr(dom, 'data-zoom'))).toBeGreaterThan(0.05); // fitted, not a dot
    const png = join(dir, 'big.png');
    await screenshot(`${pathToFileURL(big).href}#search=svc-5-1-0`, png, 1600, 1000);
    const img = readPng(readFileSync(png));
    expect(countColor(img, '#e3f2fd', 6)).toBeGreaterThan(5_000);
  }, 120_000);
});
