/**
 * Docker for e2e tests: starts dockerd when it is not running, imports a busybox image from the
 * host's busybox-static (no registry is reachable), runs and removes containers by name.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, rmSync, symlinkSync, copyFileSync, chmodSync, existsSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
export const DOCKER_SOCKET = '/var/run/docker.sock';
export const BUSYBOX_IMAGE = 'netpol-busybox:test';

export function docker(args: string[], input?: string): string {
  return execFileSync('docker', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] }).trim();
}

export async function dockerAsync(args: string[]): Promise<string> {
  const { stdout } = await execFileP('docker', args, { encoding: 'utf8' });
  return stdout.trim();
}

function ping(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: DOCKER_SOCKET, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}

/** Makes sure a Docker daemon answers on /var/run/docker.sock, starting dockerd if needed. */
export async function ensureDockerd(timeoutMs = 60_000): Promise<void> {
  if (await ping()) return;
  if (!existsSync('/var/run/docker.pid') || !(await waitFor(ping, 5000))) {
    const log = openSync(join(tmpdir(), 'netpol-dockerd.log'), 'a');
    const child = spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] });
    child.unref();
  }
  if (!(await waitFor(ping, timeoutMs))) throw new Error(`dockerd did not come up (see ${join(tmpdir(), 'netpol-dockerd.log')})`);
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/** Imports a minimal busybox image (busybox-static + applet symlinks) once. */
export function ensureBusyboxImage(tag = BUSYBOX_IMAGE): string {
  try {
    docker(['image', 'inspect', '--format', '{{.Id}}', tag]);
    return tag;
  } catch {
    /* not there yet */
  }
  const root = mkdtempSync(join(tmpdir(), 'netpol-busybox-'));
  try {
    for (const d of ['bin', 'tmp', 'etc', 'proc', 'sys', 'dev']) mkdirSync(join(root, d));
    copyFileSync('/bin/busybox', join(root, 'bin', 'busybox'));
    chmodSync(join(root, 'bin', 'busybox'), 0o755);
    const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const a of applets) if (a !== 'busybox') symlinkSync('busybox', join(root, 'bin', a));
    const tar = join(root, '..', `${root.split('/').pop()}.tar`);
    execFileSync('tar', ['-C', root, '-cf', tar, '.']);
    try {
      docker(['import', '--change', 'ENV PATH=/bin', '--change', 'CMD ["/bin/sh"]', tar, tag]);
    } finally {
      rmSync(tar, { force: true });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  return tag;
}

export interface RunOptions {
  name: string;
  image?: string;
  cmd: string[];
  labels?: Record<string, string>;
  network?: string;
  /** Run in the background (docker run -d); default true. */
  detach?: boolean;
}

/**
 * docker run; returns the container id (detached) or the output (attached). Container names are
 * global to the daemon: when another suite holds the name, waits (up to 60 s) for it to be freed.
 */
export function runContainer(o: RunOptions): string {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return runOnce(o);
    } catch (err) {
      if (!/Conflict/.test(String((err as { stderr?: string }).stderr ?? err)) || Date.now() > deadline) throw err;
      execFileSync('sleep', ['0.5']);
    }
  }
}

function runOnce(o: RunOptions): string {
  const args = ['run', '--name', o.name];
  if (o.detach !== false) args.push('-d');
  for (const [k, v] of Object.entries(o.labels ?? {})) args.push('--label', `${k}=${v}`);
  if (o.network) args.push('--network', o.network);
  args.push(o.image ?? BUSYBOX_IMAGE, ...o.cmd);
  return docker(args);
}

/** Waits for a container to exit; returns its exit code. */
export async function waitContainer(name: string): Promise<number> {
  return Number(await dockerAsync(['wait', name]));
}

export function inspect(name: string, format: string): string {
  return docker(['inspect', '--format', format, name]);
}

export function removeContainer(name: string): void {
  try {
    docker(['rm', '-f', name]);
  } catch {
    /* not there */
  }
}
