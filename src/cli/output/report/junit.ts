/**
 * `netpol check --junit FILE`: the CheckReport as JUnit XML, the format every CI server renders
 * (Jenkins, GitLab, Azure, GitHub test-report actions). One test case per audited flow (a denied
 * flow is a failure) and one per drifted policy file, so "what broke" reads like a failed test.
 */
import type { CheckReport, DriftEntry, FlowAudit } from '../../../policy/audit.js';
import { xmlEscape } from '../escape.js';
import { describeGates, driftPath, DRIFT_TITLES, droppedBy, failingFlows, flowName, flowWhere, type ReportOptions } from './common.js';

// The escaping lives with every other escaping of output (../escape.ts); re-exported for callers.
export { xmlEscape };

/** Attribute values also keep their newlines and tabs (otherwise parsers normalize them to spaces). */
function attr(text: string): string {
  return xmlEscape(text).replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}

/** The namespace a flow's source is in (for JUnit's classname grouping), else `external`. */
function sourceGroup(f: FlowAudit): string {
  const m = /^[ps]\/([^/]+)\//.exec(f.src);
  return m ? m[1]! : 'external';
}

function flowCase(f: FlowAudit, opts: ReportOptions): string {
  const name = attr(flowName(f));
  const classname = attr(`netpol.flows.${sourceGroup(f)}`);
  const where = flowWhere(f, opts.baseDir);
  const lines = [
    ...(where ? [`at ${where}`] : []),
    ...(f.count > 1 ? [`seen ${f.count} times`] : []),
    ...describeGates(f),
  ];
  const out = lines.map(xmlEscape).join('\n');
  if (f.verdict === 'denied' || f.verdict === 'unjudged') {
    const by = droppedBy(f);
    const message = f.verdict === 'unjudged' ? `could not be judged: ${f.reason}` : by.length > 0 ? `${f.reason} (dropped by ${by.join(', ')})` : f.reason;
    return (
      `    <testcase name="${name}" classname="${classname}" time="0">\n` +
      `      <failure message="${attr(message)}" type="${f.verdict}">${out}</failure>\n` +
      `    </testcase>\n`
    );
  }
  return `    <testcase name="${name}" classname="${classname}" time="0">\n      <system-out>${out}</system-out>\n    </testcase>\n`;
}

function driftCase(report: CheckReport, d: DriftEntry, opts: ReportOptions): string {
  const path = driftPath(report, d, opts.baseDir);
  return (
    `    <testcase name="${attr(path)}" classname="netpol.drift" time="0">\n` +
    `      <failure message="${attr(`${DRIFT_TITLES[d.kind]}: ${path}`)}" type="${d.kind}">${xmlEscape(d.detail)}</failure>\n` +
    `    </testcase>\n`
  );
}

function suite(name: string, tests: number, failures: number, props: [string, string][], body: string): string {
  const properties =
    props.length === 0
      ? ''
      : `    <properties>\n${props.map(([k, v]) => `      <property name="${attr(k)}" value="${attr(v)}"/>\n`).join('')}    </properties>\n`;
  return (
    `  <testsuite name="${attr(name)}" tests="${tests}" failures="${failures}" errors="0" skipped="0" time="0">\n` +
    properties +
    body +
    `  </testsuite>\n`
  );
}

/** JUnit XML for a check report: suite `flows` (one case per flow) and suite `drift`. */
export function renderJUnit(report: CheckReport, opts: ReportOptions = {}): string {
  const flowsBody = report.flows.map((f) => flowCase(f, opts)).join('');
  const denied = failingFlows(report).length;
  const props: [string, string][] = [
    ...report.inputs.flows.map((f): [string, string] => ['flows', f]),
    ...report.inputs.policies.map((p): [string, string] => ['policies', p]),
    ['cluster', report.inputs.cluster],
    ...(opts.toolVersion ? [['netpol', opts.toolVersion] as [string, string]] : []),
  ];
  // A drift suite with no failures still has one passing case, so "no drift" is visible in CI.
  const driftBody =
    report.drift.length > 0
      ? report.drift.map((d) => driftCase(report, d, opts)).join('')
      : `    <testcase name="policies match what learn generates" classname="netpol.drift" time="0"/>\n`;
  const driftTests = Math.max(1, report.drift.length);
  const tests = report.flows.length + driftTests;
  const failures = denied + report.drift.length;
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<testsuites name="netpol check" tests="${tests}" failures="${failures}" errors="0" skipped="0" time="0">\n` +
    suite('flows', report.flows.length, denied, props, flowsBody) +
    suite('drift', driftTests, report.drift.length, [], driftBody) +
    `</testsuites>\n`
  );
}
