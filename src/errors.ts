/**
 * Typed errors thrown by every module; the CLI entry (src/cli/main.ts) is the one place that maps
 * them to messages and exit codes. Bad input is exit 2 (like `kubectl diff`), so callers can tell
 * "your input is wrong" from "the policies deny something" (exit 1).
 */
export class NetpolError extends Error {
  readonly exitCode: number = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Input that cannot be used: names where it came from so the user can fix it. */
export class InputError extends NetpolError {
  constructor(
    readonly source: string,
    readonly detail: string,
    readonly line?: number,
    readonly field?: string,
  ) {
    super(`${source}${line !== undefined ? `:${line}` : ''}: ${field ? `${field}: ` : ''}${detail}`);
  }
}

/** Something in the environment is missing (root, BTF, libbpf, a cluster): says what to do. */
export class EnvironmentError extends NetpolError {
  override readonly exitCode: number = 3;
  constructor(message: string, readonly hint?: string) {
    super(hint ? `${message}\n  hint: ${hint}` : message);
  }
}
