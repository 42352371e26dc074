/**
 * GitHub Actions workflow commands for a CheckReport: one `::error file=…,line=…,title=…::…` per
 * denied flow and per drifted policy, so the problems show on the files in the run and the pull
 * request, and a closing `::notice` with the counts. Printed to stdout by `netpol check` when
 * GITHUB_ACTIONS=true (or `--annotations`).
 */
import type { CheckReport, DriftEntry, FlowAudit } from '../../../policy/audit.js';
import {
  describeGates,
  driftPath,
  DRIFT_TITLES,
  reportFailed,
  reportPath,
  type ReportOptions,
  failingFlows,
  flowProblem,
} from './common.js';
import { escapeData, escapeProperty } from '../escape.js';

// The escaping lives with every other escaping of output (../escape.ts); re-exported for callers.
export { escapeData, escapeProperty };

export type AnnotationLevel = 'error' | 'warning' | 'notice';

export interface Annotation {
  level: AnnotationLevel;
  file?: string;
  line?: number;
  title?: string;
  message: string;
}

export function formatAnnotation(a: Annotation): string {
  const props: string[] = [];
  if (a.file) props.push(`file=${escapeProperty(a.file)}`);
  if (a.file && a.line !== undefined) props.push(`line=${a.line}`);
  if (a.title) props.push(`title=${escapeProperty(a.title)}`);
  return `::${a.level}${props.length > 0 ? ` ${props.join(',')}` : ''}::${escapeData(a.message)}`;
}

function flowAnnotation(report: CheckReport, f: FlowAudit, opts: ReportOptions): Annotation {
  const file = f.origin?.file ?? report.inputs.flows[0];
  return {
    level: 'error',
    ...(file ? { file: reportPath(file, opts.baseDir) } : {}),
    ...(f.origin ? { line: f.origin.line } : {}),
    title: `netpol: ${f.verdict} ${f.src} → ${f.dst}`,
    message: [
      flowProblem(f),
      ...(f.count > 1 ? [`seen ${f.count} times`] : []),
      ...describeGates(f),
    ].join('\n'),
  };
}

function driftAnnotation(report: CheckReport, d: DriftEntry, opts: ReportOptions): Annotation {
  const file = driftPath(report, d, opts.baseDir);
  return {
    level: 'error',
    // A missing file cannot carry an annotation in the diff view; GitHub still lists it on the run.
    file,
    ...(d.kind === 'missing' ? {} : { line: 1 }),
    title: `netpol: policy drift (${d.kind})`,
    message: `${DRIFT_TITLES[d.kind]}: ${d.path}\n${d.detail}`,
  };
}

export function annotationsOf(report: CheckReport, opts: ReportOptions = {}): Annotation[] {
  const { total, allowed, denied, unjudged, drifted } = report.summary;
  return [
    ...failingFlows(report).map((f) => flowAnnotation(report, f, opts)),
    ...report.drift.map((d) => driftAnnotation(report, d, opts)),
    {
      level: 'notice',
      title: reportFailed(report) ? 'netpol check failed' : 'netpol check passed',
      message: `${total} flows: ${allowed} allowed, ${denied} denied${unjudged > 0 ? `, ${unjudged} unjudged` : ''}; ${drifted} policy files drifted`,
    },
  ];
}

/** The workflow commands, one per line (trailing newline included). */
export function renderGithubAnnotations(report: CheckReport, opts: ReportOptions = {}): string {
  return annotationsOf(report, opts).map(formatAnnotation).join('\n') + '\n';
}
