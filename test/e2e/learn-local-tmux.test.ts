/**
 * The real `netpol learn --local` in a real terminal: tmux runs the built CLI, a busybox container
 * connects to a server in this test's own network namespace, the live screen shows its row, q
 * finishes, and the learned policy for the container is written to --out.
 */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tmux, waitOn } from './support/tmux.js';
import { ensureBuilt, CLI } from '../support/cli.js';
import { busyboxBin, ensureBpfBuilt } from './support/agent-events.js';
import { ensureBusyboxImage, ensureDockerd, removeContainer, runContainer, waitContainer } from './support/docker.js';
import { type Link, Netns, destroyAll, link, waitListening } from './support/netns.js';

// Short: the screen's WORKLOAD column is narrow and would shorten a long name.
const NAME = `scr-${process.pid % 100000}`;
const SESSION = `netpol-local-${process.pid}`;
const dir = mkdtempSync(join(tmpdir(), 'netpol-local-tmux-'));
let server: Netns;
let wire: Link;
let bin: string;
const children: ChildProcess[] = [];

const screen = () => tmux('capture-pane', '-p', '-t', SESSION);
const waitFor = (what: string, cond: (text: string) => boolean, ms?: number) => waitOn(screen, what, cond, ms);

beforeAll(async () => {
  ensureBuilt();
  ensureBpfBuilt();
  await ensureDockerd();
  ensureBusyboxImage();
  bin = busyboxBin();
  server = Netns.create('npt');
  wire = link(null, server);
  children.push(server.spawn([join(bin, 'httpd'), '-f', '-p', '8080', '-h', '/tmp']));
  await waitListening(server, 8080);
}, 180_000);

afterAll(() => {
  spawnSync('tmux', ['kill-session', '-t', SESSION]);
  removeContainer(NAME);
  for (const c of children) c.kill('SIGKILL');
  destroyAll();
  if (bin) rmSync(bin, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
});

describe('netpol learn --local on a terminal', () => {
  it('shows the container connection live, and q writes its policy', async () => {
    const out = join(dir, 'policies');
    const exitFile = join(dir, 'exit');
    // A person's terminal: with CI=true (set for the test run) netpol prints plain lines instead.
    tmux('new-session', '-d', '-s', SESSION, '-x', '140', '-y', '40', `env -u CI -u CONTINUOUS_INTEGRATION node ${CLI} learn --local -c ${NAME} --no-dns --out ${out}; echo "exit=$?" > ${exitFile}; sleep 30`);
    await waitFor('the live screen', (t) => t.includes('netpol learn') && t.includes(`container ${NAME}`));

    runContainer({ name: NAME, cmd: ['sh', '-c', `sleep 1 | nc ${wire.ipv4B} 8080`] });
    expect(await waitContainer(NAME)).toBe(0);

    const shown = await waitFor('the row', (t) => t.includes(`r/${wire.ipv4B}:8080`));
    const row = shown.split('\n').find((l) => l.includes(`r/${wire.ipv4B}:8080`)) ?? '';
    expect(row).toMatch(new RegExp(`local/${NAME}.*8080/TCP +1 `));
    expect(shown).toContain('lost 0');

    tmux('send-keys', '-t', SESSION, 'q');
    await waitFor('the exit', () => existsSync(exitFile), 30_000);
    expect(readFileSync(exitFile, 'utf8').trim()).toBe('exit=0');
    const policy = readFileSync(join(out, `local/${NAME}.yaml`), 'utf8');
    expect(policy).toContain(`cidr: ${wire.ipv4B}/32`);
    expect(policy).toContain('port: 8080');
    expect(policy).toContain(`run: ${NAME}`);
  }, 180_000);
});
