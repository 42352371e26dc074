import { describe, expect, it } from 'vitest';
import { escapeData, escapeProperty, formatAnnotation, renderGithubAnnotations } from '../../src/cli/output/report/github.js';
import { cleanReport, deniedSeedFlow, seedReport } from './support/check-report.js';

/** Parses one workflow command line the way the runner does: `::cmd k=v,k=v::data`. */
function parseCommand(line: string): { command: string; props: Record<string, string>; data: string } {
  const m = /^::([a-z]+)(?: ([^:]*))?::(.*)$/.exec(line);
  if (!m) throw new Error(`not a workflow command: ${line}`);
  const unescape = (s: string) =>
    s.replace(/%3A/g, ':').replace(/%2C/g, ',').replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%');
  const props: Record<string, string> = {};
  for (const kv of (m[2] ?? '').split(',').filter(Boolean)) {
    const i = kv.indexOf('=');
    props[kv.slice(0, i)] = unescape(kv.slice(i + 1));
  }
  return { command: m[1]!, props, data: unescape(m[3]!) };
}

describe('renderGithubAnnotations', () => {
  it('emits one ::error per denied flow at file and line, one per drift, and a notice', () => {
    const lines = renderGithubAnnotations(seedReport()).trimEnd().split('\n');
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l).not.toMatch(/[\r\n]/);
    expect(lines[0]).toMatch(/^::error file=fixtures\/seed\/flows\.jsonl,line=3,title=netpol%3A denied p\/default\/mypod%3A46781 → r\/1\.0\.0\.1%3A80::/);
    const flow = parseCommand(lines[0]!);
    expect(flow.props).toEqual({ file: 'fixtures/seed/flows.jsonl', line: '3', title: 'netpol: denied p/default/mypod:46781 → r/1.0.0.1:80' });
    expect(flow.data.split('\n')).toEqual([
      'p/default/mypod:46781 → r/1.0.0.1:80 TCP [seed-3] would be denied: egress of default/mypod is isolated by default/mypod and no rule allows r/1.0.0.1:80 (dropped by default/mypod)',
      'egress: denied (isolated by default/mypod; no rule allows it)',
      'ingress: no gate (that side is not a pod of the cluster, or NetworkPolicy cannot block this traffic: self, own node)',
    ]);
    const changed = parseCommand(lines[1]!);
    expect(changed.props).toEqual({ file: 'policies/default/mypod.yaml', line: '1', title: 'netpol: policy drift (changed)' });
    expect(changed.data).toContain('+    - ipBlock: {cidr: 1.1.1.1/32}');
    const missing = parseCommand(lines[2]!);
    expect(missing.props.line).toBeUndefined();
    expect(parseCommand(lines[3]!)).toEqual({
      command: 'notice',
      props: { title: 'netpol check failed' },
      data: '2 flows: 1 allowed, 1 denied; 2 policy files drifted',
    });
  });

  it('prints only the notice when everything passes', () => {
    expect(renderGithubAnnotations(cleanReport())).toBe('::notice title=netpol check passed::1 flows: 1 allowed, 0 denied; 0 policy files drifted\n');
  });

  it('escapes data and properties like the actions toolkit', () => {
    expect(escapeData('50% a\r\nb')).toBe('50%25 a%0D%0Ab');
    expect(escapeProperty('a:b,c%')).toBe('a%3Ab%2Cc%25');
    expect(formatAnnotation({ level: 'warning', message: 'm' })).toBe('::warning::m');
    const line = renderGithubAnnotations(seedReport({ flows: [deniedSeedFlow({ origin: { file: 'we,ird:name.jsonl', line: 2 } })], drift: [] })).split('\n')[0]!;
    expect(parseCommand(line).props.file).toBe('we,ird:name.jsonl');
  });
});
