/**
 * Writing one file whole or not at all: the data goes to a new temporary file in the target's
 * directory, created exclusively (O_CREAT|O_EXCL, so an existing file or symlink of that name is an
 * error, never followed) under a random name, flushed, then renamed over the target; on any failure
 * the temporary file is removed and the target is as it was. The file-level writer every command
 * shares (reports, the snapshot recorded beside a recording); a policy tree (`learn --out`) is
 * swapped as a directory by policy/tree-swap.ts.
 *
 * (write-file-atomic was considered: it opens its temporary file with 'w' under a predictable
 * name, which an attacker who can write the directory can pre-create as a symlink.)
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Replaces `path` with `data` atomically; throws the file system's error, with nothing left behind. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.netpol-tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', mode);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}
