/**
 * Replacing a directory tree all at once (see write.ts for why and for the guarantees): build the
 * new tree beside it, then exchange the two directory entries in one step, then remove the old.
 *
 * The files of the new tree are created concurrently (FILE_CONCURRENCY at a time, through libuv's
 * thread pool): creating a file costs a journal transaction on ext4, ≈ 1 ms each on a busy disk,
 * and 10,000 of them one after another took 3–12 s of `learn -A`. Concurrency changes nothing
 * about what can be seen: the tree being built is a hidden sibling until the one swap.
 *
 * Fault injection: with NETPOL_TEST_KILL_AT_STEP=k the process SIGKILLs itself right after the k-th
 * file-system step (a mkdir, link, write, rename or removal) — how the tests kill a writer at every
 * point of a write, deterministically. Nothing else reads it.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { copyFile, link, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { NetpolError } from '../errors.js';
import { exchangeDirectories } from './dir-exchange.js';

/** One file of the new tree that differs from the current one; `path` relative, `/`-separated. */
export interface TreeChange {
  path: string;
  content: string;
}

const killAt = Number(process.env.NETPOL_TEST_KILL_AT_STEP ?? 0);
let steps = 0;

/** Counts a file-system step; see the module comment. */
function step(): void {
  if (killAt > 0 && ++steps === killAt) process.kill(process.pid, 'SIGKILL');
}

/** File creations in flight at once (see the module comment; libuv runs 4 of them at a time by default). */
const FILE_CONCURRENCY = 16;

/**
 * Runs `work` for every item, `limit` at a time. On the first failure no new item is started, the
 * ones in flight are waited for (so nothing writes into a directory about to be removed), and the
 * failure is thrown.
 */
async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const lane = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failure) throw failure.err;
}

/** Files the per-file writer of earlier netpol versions left when killed: never valid content. */
const OLD_TEMP_FILE = /\.netpol-tmp-\d+-[0-9a-z]+$/;

function siblingPrefixes(abs: string): { fresh: string; old: string } {
  const base = basename(abs);
  return { fresh: `.${base}.netpol-new-`, old: `.${base}.netpol-old-` };
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what killed runs left beside and in `outDir`. A `.netpol-old-` directory with `outDir`
 * missing means a run died between the two renames of the fallback: the old tree goes back.
 * Directories of a process still running (another learn writing the same tree) are left alone.
 */
export function cleanLeftovers(outDir: string): void {
  const abs = resolve(outDir);
  const parent = dirname(abs);
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return; // no parent yet: nothing was ever written here
  }
  const { fresh, old } = siblingPrefixes(abs);
  const ours = (name: string, prefix: string) => name.startsWith(prefix) && !isAlive(Number.parseInt(name.slice(prefix.length), 10));
  for (const name of names.filter((n) => ours(n, old)).sort()) {
    if (!existsSync(abs)) renameSync(join(parent, name), abs);
    else rmSync(join(parent, name), { recursive: true, force: true });
  }
  for (const name of names.filter((n) => ours(n, fresh))) rmSync(join(parent, name), { recursive: true, force: true });
  if (!existsSync(abs) || !statSync(abs).isDirectory()) return;
  // Where the old writer put its temporary files: beside each target, at the root and one level down.
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    if (entry.isFile() && OLD_TEMP_FILE.test(entry.name)) rmSync(join(abs, entry.name), { force: true });
    if (!entry.isDirectory()) continue;
    for (const inner of readdirSync(join(abs, entry.name), { withFileTypes: true })) {
      if (inner.isFile() && OLD_TEMP_FILE.test(inner.name)) rmSync(join(abs, entry.name, inner.name), { force: true });
    }
  }
}

/**
 * Carries every entry of `from` into `to` except the files being replaced: directories and
 * symlinks here, in order; the files (hard links, which keep inode and mtime) are returned, to be
 * linked concurrently.
 */
function carryOver(from: string, to: string, rel: string, replaced: ReadonlySet<string>, files: { src: string; dst: string }[]): void {
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    const src = join(from, entry.name);
    const dst = join(to, entry.name);
    const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) {
      mkdirSync(dst);
      chmodSync(dst, statSync(src).mode & 0o7777);
      step();
      carryOver(src, dst, path, replaced, files);
    } else if (entry.isSymbolicLink()) {
      symlinkSync(readlinkSync(src), dst);
      step();
    } else if (entry.isFile()) {
      if (!replaced.has(path)) files.push({ src, dst });
    } else {
      throw new Error(`${src}: not a file, directory or symlink; netpol cannot carry it into the new tree`);
    }
  }
}

async function linkFile({ src, dst }: { src: string; dst: string }): Promise<void> {
  try {
    await link(src, dst);
  } catch {
    // A file system without hard links: a copy, its times kept.
    await copyFile(src, dst);
    chmodSync(dst, statSync(src).mode & 0o7777);
  }
  step();
}

/**
 * Makes `outDir` hold its current files with `changes` applied, switching in one step. Throws a
 * NetpolError (nothing changed) when the new tree cannot be built.
 */
export async function swapInNewTree(outDir: string, changes: readonly TreeChange[]): Promise<void> {
  const abs = resolve(outDir);
  const cwd = process.cwd();
  if (cwd === abs || cwd.startsWith(abs + sep)) {
    throw new NetpolError(`${outDir}: is the current directory (or holds it); it is replaced as a whole, so give --out from outside it (e.g. ../${basename(abs)})`);
  }
  const parent = dirname(abs);
  const exists = existsSync(abs);
  const { fresh, old } = siblingPrefixes(abs);
  const stamp = `${process.pid}-${Date.now().toString(36)}`;
  const temp = join(parent, `${fresh}${stamp}`);
  try {
    mkdirSync(parent, { recursive: true });
    mkdirSync(temp);
    step();
    const carried: { src: string; dst: string }[] = [];
    if (exists) {
      chmodSync(temp, statSync(abs).mode & 0o7777);
      carryOver(abs, temp, '', new Set(changes.map((c) => c.path)), carried);
    }
    await eachLimited(carried, FILE_CONCURRENCY, linkFile);
    const made = new Set<string>();
    const writes: { target: string; content: string }[] = [];
    for (const change of changes) {
      const target = join(temp, ...change.path.split('/'));
      const dir = dirname(target);
      if (!made.has(dir)) {
        mkdirSync(dir, { recursive: true });
        made.add(dir);
      }
      writes.push({ target, content: change.content });
    }
    await eachLimited(writes, FILE_CONCURRENCY, async ({ target, content }) => {
      await writeFile(target, content, { flag: 'wx' });
      step();
    });
    if (!exists) {
      // Nothing to replace: one rename makes the whole tree appear (it fails if outDir appeared meanwhile).
      renameSync(temp, abs);
      step();
      return;
    }
  } catch (err) {
    rmSync(temp, { recursive: true, force: true });
    throw new NetpolError(`could not write policies to ${outDir}: ${(err as Error).message}`, { cause: err });
  }
  let exchanged: boolean;
  try {
    exchanged = exchangeDirectories(temp, abs);
  } catch (err) {
    rmSync(temp, { recursive: true, force: true });
    throw new NetpolError(`could not write policies to ${outDir}: ${(err as Error).message}`, { cause: err });
  }
  step();
  if (exchanged) {
    // `temp` now holds the old tree (fs/promises' rm removes a directory's entries concurrently).
    await rm(temp, { recursive: true, force: true });
    step();
    return;
  }
  // No exchange here: two renames; a kill between them leaves outDir absent, repaired by cleanLeftovers.
  const previous = join(parent, `${old}${stamp}`);
  renameSync(abs, previous);
  step();
  try {
    renameSync(temp, abs);
  } catch (err) {
    renameSync(previous, abs);
    rmSync(temp, { recursive: true, force: true });
    throw new NetpolError(`could not write policies to ${outDir}: ${(err as Error).message}`, { cause: err });
  }
  step();
  await rm(previous, { recursive: true, force: true });
  step();
}
