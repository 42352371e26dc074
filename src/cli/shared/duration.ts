/**
 * The one duration syntax of every option that takes a time (`--timeout`, `--duration`, and any
 * later `--since`): Go/kubectl style units, combinable, or plain seconds —
 *   30s · 5m · 1h30m · 250ms · 3d · 1.5h · 10 (seconds).
 * Every duration option parses through here, so `--timeout 10s` and `--duration 10` mean the same.
 */
import { InvalidArgumentError, Option } from 'commander';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/;
export const DURATION_SYNTAX = 'e.g. 30s, 5m, 1h30m, 3d, or plain seconds';

/** A duration → milliseconds; anything else (empty, negative, zero, unknown unit) is a usage error. */
export function parseDuration(value: string): number {
  const text = value.trim();
  let total = 0;
  if (/^\d+(\.\d+)?$/.test(text)) {
    total = Number(text) * 1000;
  } else {
    let rest = text;
    if (rest === '') throw new InvalidArgumentError(`not a duration: "${value}" (${DURATION_SYNTAX})`);
    while (rest.length > 0) {
      const m = PART.exec(rest);
      if (!m) throw new InvalidArgumentError(`not a duration: "${value}" (${DURATION_SYNTAX})`);
      total += Number(m[1]) * UNIT_MS[m[2]!]!;
      rest = rest.slice(m[0].length);
    }
  }
  if (!(total > 0) || !Number.isFinite(total)) throw new InvalidArgumentError(`not a positive duration: "${value}" (${DURATION_SYNTAX})`);
  return total;
}

/** The same syntax for options whose value the command keeps in seconds (trace --timeout). */
export function parseDurationSeconds(value: string): number {
  return parseDuration(value) / 1000;
}

/** --timeout of a command that waits for the cluster (deploy, undeploy): in ms, 2 minutes unless given. */
export function waitTimeoutOption(what: string): Option {
  return new Option('--timeout <duration>', `how long to wait ${what} (${DURATION_SYNTAX})`).argParser((v: string) => parseDuration(v)).default(120_000, '2m');
}
