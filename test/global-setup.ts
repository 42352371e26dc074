/**
 * Shared set-up for the whole test run.
 *
 * The Kubernetes test cluster (etcd + kube-apiserver from test/cluster/) is started lazily: this
 * file only reserves a state directory for the run and hands its path to the test files through
 * `provide('netpolClusterDir')`. The first e2e suite that calls `ensureCluster()`
 * (test/e2e/support/cluster.ts) starts the cluster there; every later suite of the run reuses it.
 * So `npx vitest run test/unit` never builds or starts anything and needs no root, while a full run
 * starts one API server. The teardown below stops it, whichever suite started it.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** State directory of this run's test cluster (see test/cluster/start.sh); empty until started. */
    netpolClusterDir: string;
    /** The vitest main process: the cluster's watchdog stops the cluster when it exits. */
    netpolClusterOwner: number;
  }
}

const run = promisify(execFile);
/** Written by ensureCluster() when it started the cluster; keep in sync with test/e2e/support/cluster.ts. */
const STARTED_MARKER = '.started-by-test-run';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.NETPOL_CLUSTER_DIR;
  const dir = given ?? mkdtempSync(join(tmpdir(), 'netpol-cluster-'));
  project.provide('netpolClusterDir', dir);
  project.provide('netpolClusterOwner', process.pid);
  return async () => {
    // Only a cluster this run started (ensureCluster leaves the marker); one given through
    // NETPOL_CLUSTER_DIR and already running before the run is left running.
    if (existsSync(join(dir, STARTED_MARKER))) {
      await run('bash', [join(import.meta.dirname, 'cluster', 'stop.sh'), dir]);
    }
    // The state directory holds the logs; NETPOL_KEEP_CLUSTER_DIR=1 keeps it for a post-mortem.
    if (!given && !process.env.NETPOL_KEEP_CLUSTER_DIR) rmSync(dir, { recursive: true, force: true });
  };
}
