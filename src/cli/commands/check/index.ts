/**
 * `netpol check`: the CI gate. Fails (exit 1) when a recorded flow would be denied by the committed
 * policies, or when those policies drifted from what `learn` generates from the same recording;
 * writes JUnit, SARIF, GitHub annotations and a Markdown summary on request.
 */
import { existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Command, Option } from 'commander';
import { InputError } from '../../../errors.js';
import { EdgeAggregator } from '../../../flows/edges.js';
import { readFlows } from '../../../flows/jsonl.js';
import { auditExitCode, type CheckReport, type DriftEntry } from '../../../policy/audit.js';
import { Auditor } from '../../../policy/auditor.js';
import { policyDrift } from '../../../policy/drift.js';
import { compilePolicies } from '../../../policy/evaluate.js';
import { learnFromEdges } from '../../../policy/learn.js';
import { loadPolicies } from '../../../policy/load.js';
import { auditJson, auditTable, summaryLine } from '../../shared/audit-output.js';
import { clusterFilesFor, requireClusterForAudit } from '../../shared/recorded-cluster.js';
import { openClusterView } from '../../shared/inputs.js';
import { addSynthesisOptions, synthesisOptions, type SynthesisFlags } from '../../shared/synthesis-flags.js';
import { printable, printableLines } from '../../output/escape.js';
import { collect } from '../../shared/options.js';
import { writeReportFile } from '../../output/report-file.js';
import { renderGithubAnnotations } from '../../output/report/github.js';
import { renderJUnit } from '../../output/report/junit.js';
import { renderMarkdownSummary } from '../../output/report/markdown.js';
import { renderSarif } from '../../output/report/sarif.js';
import { addExamples, declareCommand, runsWithExitCode } from '../../shared/command-help.js';

const pkg = createRequire(import.meta.url)('../../../../package.json') as { version: string };

interface CheckFlags extends SynthesisFlags {
  policies: string[];
  flows: string[];
  cluster?: string[];
  drift: boolean;
  junit?: string;
  sarif?: string;
  markdown?: string;
  github?: boolean;
  output: 'text' | 'json';
}

function driftText(drift: DriftEntry[]): string {
  return printableLines(drift.map((d) => `drift (${d.kind}) ${printable(d.path)}\n${d.detail.replace(/^/gm, '    ')}`).join('\n')) + '\n';
}

/** The drift check compares one policy directory: say so before reading a large recording. */
function requirePolicyDirectory(flags: CheckFlags): void {
  if (!flags.drift) return;
  const [dir, ...more] = flags.policies;
  const isDir = dir !== undefined && existsSync(dir) && statSync(dir).isDirectory();
  if (more.length > 0 || !isDir) {
    throw new InputError('--policies', `the drift check compares one policy directory (got ${flags.policies.join(', ')}); give the directory \`learn --out\` wrote, or --no-drift to only judge flows against files`);
  }
}

export async function buildCheckReport(flags: CheckFlags): Promise<CheckReport> {
  requirePolicyDirectory(flags);
  const cluster = clusterFilesFor(flags.cluster, flags.flows);
  if (!cluster) requireClusterForAudit('check');
  const view = await openClusterView({ cluster }, 'snapshot');
  try {
    const policies = loadPolicies(flags.policies);
    const index = view.index();
    const auditor = new Auditor(compilePolicies(policies), index);
    const edges = new EdgeAggregator();
    // One pass over the recording feeds both the audit and the re-learn for drift.
    for await (const flow of readFlows(flags.flows)) {
      auditor.add(flow);
      if (flags.drift) edges.add(flow);
    }
    let drift: DriftEntry[] = [];
    if (flags.drift) {
      const outcome = learnFromEdges(edges.result(), edges.flows, index, synthesisOptions(flags));
      drift = policyDrift(flags.policies[0]!, outcome.result);
    }
    return {
      flows: auditor.sorted(),
      drift,
      summary: { ...auditor.summary, drifted: drift.length },
      inputs: { flows: flags.flows, policies: flags.policies, cluster: view.description },
    };
  } finally {
    await view.close();
  }
}

async function runCheck(flags: CheckFlags): Promise<number> {
  const report = await buildCheckReport(flags);
  const opts = { baseDir: process.cwd(), toolVersion: pkg.version };
  if (flags.junit) writeReportFile(flags.junit, renderJUnit(report, opts));
  if (flags.sarif) writeReportFile(flags.sarif, JSON.stringify(renderSarif(report, opts), null, 2) + '\n');
  if (flags.markdown) writeReportFile(flags.markdown, renderMarkdownSummary(report, opts));
  if (flags.github) process.stdout.write(renderGithubAnnotations(report, opts));
  if (flags.output === 'json') {
    process.stdout.write(JSON.stringify({ ...(auditJson(report.flows, report.summary) as object), drift: report.drift, summary: report.summary }, null, 2) + '\n');
  } else {
    // Unjudged flows are listed with the denied ones: a gate passes only on what it judged.
    const failing = report.flows.filter((f) => f.verdict !== 'allowed');
    if (failing.length > 0) process.stdout.write(auditTable(failing) + '\n');
    if (report.drift.length > 0) process.stdout.write(driftText(report.drift) + '\n');
    const verdict = failing.length === 0 && report.drift.length === 0 ? 'PASS' : 'FAIL';
    process.stdout.write(`${verdict}: ${summaryLine(report.summary)}; ${report.drift.length} drifted file(s)\n`);
  }
  return auditExitCode(report.summary) !== 0 || report.drift.length > 0 ? 1 : 0;
}

export function checkCommand(): Command {
  const cmd = declareCommand(
    'check',
    'CI gate: fail when recorded flows would be denied or policies drifted',
    `Judges every recorded flow against the committed policies and re-learns from the same recording
    to detect drift (committed files that differ from what \`learn\` generates now). Pass the same
    synthesis flags you give \`learn\`. Exit 0: pass; 1: denied flows or drift; 2: bad input.`,
    {
      flows: { help: 'recorded flows, JSONL v1 (repeatable)', required: true },
      cluster: { help: 'cluster snapshot YAML' },
      policies: { help: 'the committed policy directory (or files, with --no-drift)', required: true },
    },
  );
  cmd.option('--no-drift', 'only judge flows; do not compare the files with what learn generates');
  addSynthesisOptions(cmd);
  cmd
    .option('--junit <file>', 'write a JUnit XML report')
    .option('--sarif <file>', 'write a SARIF 2.1.0 report (GitHub code scanning)')
    .option('--markdown <file>', 'write a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)')
    .option('--github', 'print GitHub Actions annotations (::error file=...::) on stdout')
    .addOption(new Option('-o, --output <format>', 'console report format').choices(['text', 'json']).default('text'));
  addExamples(cmd, [
    'netpol check --policies policies/ --flows fixtures/demo/flows.jsonl --cluster fixtures/demo/cluster.yaml',
    'netpol check --policies policies/ --flows rec.jsonl --cluster c.yaml --junit junit.xml --sarif netpol.sarif \\\n      --github --markdown "$GITHUB_STEP_SUMMARY"',
  ]);
  return runsWithExitCode(cmd, runCheck);
}
