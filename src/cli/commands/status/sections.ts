/**
 * More sections of `kubectl netpol status`, after the agents (e.g. the traffic profiles of branch
 * profile: count, size, oldest observation). A section reads what it needs through the user's
 * kubeconfig; its JSON goes under `sections.<name>` of -o json, its lines under a heading of its
 * own. Add one by appending to STATUS_SECTIONS.
 */
import type { KubeConfig } from '@kubernetes/client-node';

export interface StatusSectionResult {
  /** Under `sections.<name>` in -o json. */
  json: unknown;
  /** The table's lines (a header first), printed under the section's title. */
  lines: string[];
  /** Something in it needs attention: the command exits 1 (as for an agent not ready). */
  problem?: boolean;
}

export interface StatusSection {
  name: string;
  title: string;
  collect(kc: KubeConfig): Promise<StatusSectionResult>;
}

export const STATUS_SECTIONS: StatusSection[] = [];
