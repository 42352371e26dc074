/**
 * The one string order the synthesizer sorts by: code-unit order, as `<` compares, so the output
 * does not depend on the locale (localeCompare would).
 */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
