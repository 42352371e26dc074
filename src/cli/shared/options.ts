/** Option parsing shared by commands: repeated flags, durations, output formats, with usable errors. */
import { InvalidArgumentError } from 'commander';

/** For repeatable flags: `--flows a --flows b` and `--flows a,b` both give [a, b]. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter((v) => v !== '')];
}

export function oneOf<T extends string>(allowed: readonly T[]) {
  return (value: string): T => {
    if (!(allowed as readonly string[]).includes(value)) {
      throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}`);
    }
    return value as T;
  };
}

/** Durations have one parser for every option: see duration.ts. */
export { parseDuration, parseDurationSeconds } from './duration.js';

export function parseIntInRange(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    }
    return Number(value);
  };
}
