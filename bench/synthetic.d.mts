// Types of bench/synthetic.mjs (plain JavaScript, run by node directly) for the TypeScript tests that import it.

export interface SyntheticPod {
  ns: string;
  name: string;
  ip: string;
}
export interface SyntheticDeployment {
  ns: string;
  name: string;
  pods: SyntheticPod[];
  svcIp: string;
  port: number;
  targetPort: number;
}
export interface SyntheticFlow {
  v: 1;
  ts: string;
  proto: 'TCP';
  src: { ip: string; port: number; namespace: string; pod: string };
  dst: { ip: string; port: number };
}

export function rng(seed: number): () => number;
/** A cluster of `pods` pods in deployments of `perDeployment`, spread over `namespaces`: a v1 List and its deployments. */
export function makeCluster(opts?: { pods?: number; perDeployment?: number; namespaces?: number }): {
  list: { apiVersion: 'v1'; kind: 'List'; items: Record<string, unknown>[] };
  deployments: SyntheticDeployment[];
};
export function makeFlows(deployments: SyntheticDeployment[], count: number, seed?: number): Generator<SyntheticFlow>;
export function machine(): Promise<{ cpus: number; model: string; memGiB: number; kernel: string; node: string }>;
