#!/usr/bin/env node
// What creating a policy tree's files costs the kernel here, and how much more right after as many
// files were removed: 10,000 files of 900 bytes in 100 directories, 16 writes in flight (as
// src/policy/tree-swap.ts), CPU of this process (user, sys) per round. Rounds alternate: "fresh"
// keeps the previous round's tree until the end, "after-rm" removes it just before creating.
// On ext4 without a journal every inode allocation skips the group's inodes freed in the last
// minute or so (recently_deleted() in fs/ext4/ialloc.c): a round pays for what was removed lately
// in the groups its directories land in (the file system's choice; other jobs remove files too),
// so rounds of either kind vary.
//
//   node bench/file-create-cost.mjs [--dir /tmp] [--rounds 3]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({ options: { dir: { type: 'string', default: '/tmp' }, rounds: { type: 'string', default: '3' } } });
const base = mkdtempSync(join(a.dir, 'netpol-file-create-'));
const content = 'x'.repeat(900);
let n = 0;
async function createTree() {
  const root = join(base, `t${n++}`);
  const r0 = process.resourceUsage();
  const t0 = performance.now();
  mkdirSync(root);
  for (let d = 0; d < 100; d++) mkdirSync(join(root, `ns-${d}`));
  const files = Array.from({ length: 10_000 }, (_, i) => join(root, `ns-${i % 100}`, `w-${i}.yaml`));
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => { while (next < files.length) await writeFile(files[next++], content, { flag: 'wx' }); }));
  const r1 = process.resourceUsage();
  return { root, wall: +((performance.now() - t0) / 1000).toFixed(2), user: +((r1.userCPUTime - r0.userCPUTime) / 1e6).toFixed(2), sys: +((r1.systemCPUTime - r0.systemCPUTime) / 1e6).toFixed(2) };
}
const rows = [];
for (let r = 0; r < Number(a.rounds); r++) {
  const fresh = await createTree();
  rows.push({ mode: 'fresh', ...fresh });
  const victim = await createTree();
  rmSync(victim.root, { recursive: true });
  const after = await createTree();
  rows.push({ mode: 'after-rm', ...after });
}
for (const row of rows) { delete row.root; process.stdout.write(JSON.stringify(row) + '\n'); }
rmSync(base, { recursive: true, force: true });
