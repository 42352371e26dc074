/** The kernel's word on whether a process holds a sockops hook (the tracer's connects-as-made hook). */
import { readdirSync, readFileSync } from 'node:fs';

/** sock_ops links (BPF_CGROUP_SOCK_OPS, attach_type 3) held by process `pid`: its descriptors' fdinfo. */
export function sockopsLinksOf(pid: number): string[] {
  const found: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    if (/^link_type:\tcgroup$/m.test(info) && /^attach_type:\t3$/m.test(info)) found.push(/^link_id:\t(\d+)$/m.exec(info)?.[1] ?? fd);
  }
  return found;
}
