/**
 * Writing a report file (`check --junit/--sarif/--markdown`, `graph --out`) whole or not at all,
 * and never through someone else's name: the text goes to a new temporary file in the target's
 * directory, created exclusively (O_CREAT|O_EXCL, so an existing file or symlink of that name is an
 * error, never followed) under a random name, flushed, then renamed over the target. A symlink at
 * the target is refused: a shared CI workspace must not let a link point our write elsewhere.
 *
 * The write itself is flows/atomic-file.ts, shared with every file netpol replaces.
 *
 * (write-file-atomic was considered: it opens its temporary file with 'w' under a predictable
 * name and writes through a symlinked target, which is what this module exists to refuse.)
 */
import { lstatSync } from 'node:fs';
import { InputError } from '../../errors.js';
import { writeFileAtomic } from '../../flows/atomic-file.js';

export function writeReportFile(path: string, text: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new InputError(path, `cannot write report: ${(err as Error).message}`);
  }
  if (st?.isSymbolicLink()) throw new InputError(path, 'refusing to write a report through a symbolic link; remove the link or give another path');
  if (st && !st.isFile()) throw new InputError(path, 'cannot write report: the path exists and is not a regular file');
  try {
    writeFileAtomic(path, text);
  } catch (err) {
    throw new InputError(path, `cannot write report: ${(err as Error).message}`);
  }
}
