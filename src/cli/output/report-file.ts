/**
 * Writing a report file (`check --junit/--sarif/--markdown`, `graph --out`) whole or not at all,
 * and never through someone else's name: the text goes to a new temporary file in the target's
 * directory, created exclusively (O_CREAT|O_EXCL, so an existing file or symlink of that name is an
 * error, never followed) under a random name, flushed, then renamed over the target. A symlink at
 * the target is refused: a shared CI workspace must not let a link point our write elsewhere.
 *
 * (write-file-atomic was considered: it opens its temporary file with 'w' under a predictable
 * name and writes through a symlinked target, which is what this module exists to refuse.)
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../../errors.js';

export function writeReportFile(path: string, text: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new InputError(path, `cannot write report: ${(err as Error).message}`);
  }
  if (st?.isSymbolicLink()) throw new InputError(path, 'refusing to write a report through a symbolic link; remove the link or give another path');
  if (st && !st.isFile()) throw new InputError(path, 'cannot write report: the path exists and is not a regular file');
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(8).toString('hex')}.netpol-tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    const data = Buffer.from(text);
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw new InputError(path, `cannot write report: ${(err as Error).message}`);
  }
}
