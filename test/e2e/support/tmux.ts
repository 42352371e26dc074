/** Driving a program in a real terminal: tmux runs it, capture-pane reads the screen. */
import { execFileSync } from 'node:child_process';

export function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}

/** Polls `screen` until `cond` holds; the error shows the last screen, which is what one needs to see. */
export async function waitOn(screen: () => string, what: string, cond: (text: string) => boolean, ms = 60_000): Promise<string> {
  const end = Date.now() + ms;
  let text = '';
  while (Date.now() < end) {
    text = screen();
    if (cond(text)) return text;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}; screen:\n${text}`);
}
