// The one column model (src/cli/output/columns/): the views every row type goes through.
import { describe, expect, it } from 'vitest';
import { selectColumns, type Column } from '../../src/cli/output/columns/model.js';
import { compileJson } from '../../src/cli/output/columns/json.js';
import { TableFormatter, textTable } from '../../src/cli/output/columns/table.js';
import { headerLine, PLAIN_COLUMNS, rowLine } from '../../src/cli/views/learn-columns.js';
import type { LearnRow } from '../../src/cli/views/learn-model.js';

interface Row {
  name: string;
  n: number;
}
const COLUMNS: Column<Row>[] = [
  { name: 'NAME', width: 6, text: (r) => r.name, json: { path: 'meta.name', value: (r) => r.name } },
  { name: 'N', width: 4, align: 'right', text: (r) => String(r.n), json: { path: 'n', value: (r) => r.n } },
  { name: 'NOTE', width: 8, text: (r) => `${r.name}!` },
];

describe('column model', () => {
  it('fixed-width table: widths from the declaration or the layout, last column unpadded, long cells cut only on request', () => {
    const t = new TableFormatter({ columns: ['NAME', 'N', 'NOTE'], widths: { N: 3 } }, COLUMNS);
    expect(t.header()).toBe('NAME     N NOTE');
    expect(t.row({ name: 'abcdefgh', n: 7 })).toBe('abcdefgh   7 abcdefgh!');
    const cut = new TableFormatter({ columns: ['NAME', 'NOTE'] }, COLUMNS, { truncate: true });
    expect(cut.row({ name: 'abcdefgh', n: 7 })).toBe('abcde… abcdefgh!');
  });

  it('every table view shows control characters in cells as escapes', () => {
    const row = { name: 'a\x1b[2Jb', n: 1 };
    expect(new TableFormatter({ columns: ['NAME', 'N'] }, COLUMNS).row(row)).toBe('a\\x1b[2Jb    1');
    expect(textTable([row], COLUMNS)).toBe('NAME       N  NOTE\na\\x1b[2Jb  1  a\\x1b[2Jb!');
    // The learn screen's lines too (a peer's name comes from a recording's DNS answers).
    const learn: LearnRow = { workload: 'shop/web', kind: 'Pod', peer: 'r/evil\x1b]0;x\x07', proto: 'TCP', ports: '80', count: 1, lastSeen: 0 } as LearnRow;
    const line = rowLine(learn, 0, false, PLAIN_COLUMNS);
    expect(line).toContain('r/evil\\x1b]0;x\\x07');
    expect(line).not.toMatch(/[\x00-\x1f]/);
    expect(headerLine(PLAIN_COLUMNS)).toBe('WORKLOAD                 KIND       PEER                           PORTS      FIRST SEEN');
  });

  it('a fixed-width line tests for control characters once, and finds them at its very end and in a cut cell', () => {
    const t = new TableFormatter({ columns: ['N', 'NAME'] }, COLUMNS);
    // The last cell's trailing tab or newline would go with the line's trailing blanks: escaped instead.
    expect(t.row({ name: 'x\t', n: 1 })).toBe('   1 x\\t');
    expect(t.row({ name: 'x\n', n: 1 })).toBe('   1 x\\n');
    expect(t.row({ name: '\u202e', n: 1 })).toBe('   1 \\u202e');
    // Escaped before the cut (as printed before): the escape is wider, so the cut keeps less of the name.
    const cut = new TableFormatter({ columns: ['NAME', 'NOTE'] }, COLUMNS, { truncate: true });
    expect(cut.row({ name: 'a\x1bbcdef', n: 7 })).toBe('a\\x1b… a\\x1bbcdef!');
    expect(cut.row({ name: 'abcdef\x1b', n: 7 })).toBe('abcde… abcdef\\x1b!');
    // A line with none is the cells as they are.
    expect(t.row({ name: 'plain', n: 12 })).toBe('  12 plain');
  });

  it('JSON view nests by the dots of each path and leaves out table-only columns', () => {
    expect(compileJson(COLUMNS)({ name: 'x', n: 2 })).toEqual({ meta: { name: 'x' }, n: 2 });
  });

  it('selection keeps the order asked for, matches case-insensitively on request, and names the known columns', () => {
    expect(selectColumns(COLUMNS, ['note', 'name'], { ignoreCase: true }).map((c) => c.name)).toEqual(['NOTE', 'NAME']);
    expect(() => selectColumns(COLUMNS, ['note'])).toThrow('unknown column "note" (known: NAME, N, NOTE)');
  });
});
