/**
 * Headless Debian Chromium for page checks: a screenshot and the DOM after the page's scripts ran.
 * Runs with a throwaway profile and no network use beyond the file: URL it is given.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function chromiumPath(): string | undefined {
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
}

function baseArgs(profile: string, width: number, height: number): string[] {
  return [
    '--headless',
    '--no-sandbox', // tests run as root
    '--disable-gpu',
    '--disable-dev-shm-usage', // small /dev/shm in containers
    '--hide-scrollbars',
    '--no-first-run',
    '--disable-extensions',
    '--disable-background-networking',
    '--disable-sync',
    '--disable-component-update',
    '--disable-default-apps',
    `--user-data-dir=${profile}`,
    `--window-size=${width},${height}`,
  ];
}

async function withProfile<T>(fn: (profile: string) => Promise<T>): Promise<T> {
  const profile = mkdtempSync(join(tmpdir(), 'netpol-chromium-'));
  try {
    return await fn(profile);
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

export async function screenshot(url: string, png: string, width = 1400, height = 900): Promise<void> {
  const bin = chromiumPath();
  if (!bin) throw new Error('chromium is not installed (scripts/setup.sh installs it)');
  await withProfile((profile) => run(bin, [...baseArgs(profile, width, height), `--screenshot=${png}`, url], { timeout: 60_000 }));
}

/** The serialized DOM once the page loaded and its scripts ran. */
export async function dumpDom(url: string, width = 1400, height = 900): Promise<string> {
  const bin = chromiumPath();
  if (!bin) throw new Error('chromium is not installed (scripts/setup.sh installs it)');
  return withProfile(async (profile) => {
    const { stdout } = await run(bin, [...baseArgs(profile, width, height), '--virtual-time-budget=3000', '--dump-dom', url], {
      timeout: 60_000,
      maxBuffer: 64 << 20,
    });
    return stdout;
  });
}
