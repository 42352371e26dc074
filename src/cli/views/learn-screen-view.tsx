/**
 * The live learn screen (ink): what is being observed, how fast, what was lost; one row per
 * workload and peer; the policies that would be written now and how they differ from --out; keys.
 * Purely presentational: everything it shows comes in through props (see learn-screen.tsx for the
 * wiring), so it is tested with ink-testing-library by rendering props.
 */
import { Box, Text } from 'ink';
import type { ReactElement } from 'react';
import { headerLine, rowLine } from './learn-columns.js';
import type { LearnRow, PolicyLine, PolicyPreview } from './learn-model.js';

export interface LearnScreenProps {
  mode: string;
  selector?: string;
  elapsedMs: number;
  events: number;
  eventsPerSecond: number;
  lost: number;
  flows: number;
  rows: LearnRow[];
  now: number;
  preview?: PolicyPreview;
  out?: string;
  paused: boolean;
  filter: string;
  editingFilter: boolean;
  /** `finishing…`, `wrote 3 files to policies/`, an error. */
  status?: string;
  /** Table rows shown before "… N more". */
  maxRows?: number;
  maxPolicies?: number;
  /** The policies' YAML, shown when toggled with y (already cut to the lines that fit). */
  yaml?: { lines: string[]; more: number };
}

export function formatElapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  const hh = String(Math.floor(s / 3600)).padStart(2, '0');
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return `${hh}:${mm}:${ss}`;
}

const STATUS_MARK: Record<PolicyLine['status'], { mark: string; color: string; word: string }> = {
  new: { mark: '+', color: 'green', word: 'new' },
  changed: { mark: '~', color: 'yellow', word: 'changed' },
  unchanged: { mark: '=', color: 'gray', word: 'unchanged' },
  'only-in-out': { mark: '-', color: 'gray', word: 'only in --out (not observed yet)' },
};

function PolicyPane({ preview, out, max }: { preview?: PolicyPreview; out?: string; max: number }): ReactElement {
  const target = out ? ` → ${out}` : ' (printed on exit; --out DIR to write files)';
  if (!preview) return <Text color="gray">POLICIES{target}: waiting for flows…</Text>;
  const lines = preview.policies;
  const counts = (['new', 'changed', 'unchanged'] as const).map((s) => `${lines.filter((l) => l.status === s).length} ${s}`).join(', ');
  const detailBudget = Math.max(2, max - Math.min(lines.length, max));
  let detailsShown = 0;
  return (
    <Box flexDirection="column">
      <Text bold>
        POLICIES{target}: {out ? counts : `${lines.length} would be written`}
      </Text>
      {preview.error ? <Text color="red">  {preview.error}</Text> : null}
      {lines.slice(0, max).map((l) => {
        const s = STATUS_MARK[l.status];
        const details = l.details.slice(0, Math.max(0, detailBudget - detailsShown));
        detailsShown += details.length;
        return (
          <Box key={l.policy} flexDirection="column">
            <Text>
              <Text color={s.color}>  {s.mark} </Text>
              {l.policy.padEnd(32)} <Text color={s.color}>{out ? s.word : 'would be written'}</Text>
            </Text>
            {details.map((d) => (
              <Text key={d} color="gray">
                {'      '}
                {d}
              </Text>
            ))}
          </Box>
        );
      })}
      {lines.length > max ? <Text color="gray">  … {lines.length - max} more policies</Text> : null}
    </Box>
  );
}

export function LearnScreen(props: LearnScreenProps): ReactElement {
  const maxRows = props.maxRows ?? 20;
  const rows = props.rows.slice(0, maxRows);
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text bold color="cyan">
          netpol learn
        </Text>
        {` · ${props.mode}${props.selector ? ` · ${props.selector}` : ''}   elapsed ${formatElapsed(props.elapsedMs)}`}
      </Text>
      <Text wrap="truncate-end">
        {`events ${props.events.toLocaleString('en-US')} (${props.eventsPerSecond.toFixed(1)}/s)   flows ${props.flows.toLocaleString('en-US')}   `}
        <Text color={props.lost > 0 ? 'red' : undefined} bold={props.lost > 0}>
          lost {props.lost.toLocaleString('en-US')}
        </Text>
        {props.paused ? (
          <Text color="yellow" bold>
            {'   '}PAUSED (display frozen; still learning)
          </Text>
        ) : null}
      </Text>
      <Text> </Text>
      <Text bold wrap="truncate-end">
        {headerLine()}
      </Text>
      {rows.length === 0 ? <Text color="gray">{props.filter ? `no rows match "${props.filter}"` : 'waiting for connections…'}</Text> : null}
      {rows.map((r, i) => (
        <Text key={`${r.workload}|${r.peer}|${r.proto}`} wrap="truncate-end">
          {rowLine(r, props.now, i > 0 && rows[i - 1]!.workload === r.workload)}
        </Text>
      ))}
      {props.rows.length > maxRows ? <Text color="gray">… {props.rows.length - maxRows} more rows (/ to filter)</Text> : null}
      <Text> </Text>
      <PolicyPane preview={props.preview} out={props.out} max={props.maxPolicies ?? 8} />
      {props.yaml ? (
        <Box flexDirection="column" marginTop={1}>
          {props.yaml.lines.map((l, i) => (
            <Text key={i} color="cyan" wrap="truncate-end">
              {l === '' ? ' ' : l}
            </Text>
          ))}
          {props.yaml.more > 0 ? <Text color="gray">… {props.yaml.more} more lines</Text> : null}
        </Box>
      ) : null}
      <Text> </Text>
      {props.editingFilter ? (
        <Text>
          filter: <Text color="cyan">{props.filter}</Text>
          <Text inverse> </Text>
          <Text color="gray">  (Enter to keep, Esc to clear)</Text>
        </Text>
      ) : (
        <Text color="gray">
          q finish and write · p {props.paused ? 'resume' : 'pause'} · / filter{props.filter ? ` (now: "${props.filter}")` : ''} · y {props.yaml ? 'hide' : 'show'} policy YAML
        </Text>
      )}
      {props.status ? <Text color="green">{props.status}</Text> : null}
    </Box>
  );
}
