/**
 * Escaping of input on its way out, in one place. Flow ids, pod and file names come from
 * recordings and snapshots anyone can write; printed raw, a newline forges a line (a GitHub
 * Actions `::warning::` command, a fake table row) and an ESC sequence drives the reader's terminal.
 * Every writer of text we show goes through one of these:
 *   printable      one-line text: tables, columns, titles (control characters as \n, \x1b, \u202e)
 *   printableLines text whose own newlines are meant (explanations, error messages)
 *   escapeData / escapeProperty   GitHub workflow commands (GitHub's own escaping of %, CR, LF, : ,)
 *   markdownCell   Markdown table cells and inline text
 *   xmlEscape      XML text and attribute values (JUnit)
 * JSON output needs nothing more: JSON.stringify escapes every control character.
 */

/**
 * C0 controls, DEL, C1 controls (U+0080–U+009F: 0x9B is a CSI to some terminals), and the Unicode
 * bidirectional overrides and isolates that reorder what a reader sees.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex
const CONTROL_BUT_CR_LF = /[\u0000-\u0009\u000b\u000c\u000e-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** CONTROL without the global flag: a test with no lastIndex to carry between calls. */
const HAS_CONTROL = new RegExp(CONTROL.source);

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeControl(c: string): string {
  const code = c.charCodeAt(0);
  return NAMED[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`);
}

/** Whether the text holds a character printable() would escape. */
export function hasControl(text: string): boolean {
  return HAS_CONTROL.test(text);
}

/** One line of text with every control character shown as an escape (`\n`, `\x1b`, `\u202e`). */
export function printable(text: string): string {
  // Most text has nothing to escape: a test (no new string) is 2-4x cheaper than the replace, and
  // tables call this for every cell.
  return HAS_CONTROL.test(text) ? text.replace(CONTROL, escapeControl) : text;
}

/** Like printable, but the text's own line breaks stay line breaks. */
export function printableLines(text: string): string {
  return text.replace(CONTROL_BUT_NEWLINE, escapeControl);
}

/** GitHub workflow command message (GitHub's `escapeData`), other control characters made visible first. */
export function escapeData(text: string): string {
  return text.replace(CONTROL_BUT_CR_LF, escapeControl).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** GitHub workflow command property value (GitHub's `escapeProperty`): also `:` and `,`. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/** Markdown cell text: pipes escaped, newlines as <br>, no stray HTML, no control characters. */
export function markdownCell(text: string): string {
  return printableLines(text.replace(/\r\n?/g, '\n'))
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, '<br>');
}

/** Characters XML 1.0 cannot carry at all, not even as references (control characters other than tab, LF, CR). */
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** XML text: markup escaped; a character XML cannot carry is shown as its escape (`\x1b`). */
export function xmlEscape(text: string): string {
  return text
    .replace(INVALID_XML, escapeControl)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
