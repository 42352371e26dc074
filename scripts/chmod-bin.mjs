// tsc does not keep the executable bit; npm links bin entries but a fresh clone run from dist needs it too.
import { chmodSync } from 'node:fs';
chmodSync(new URL('../dist/cli/main.js', import.meta.url), 0o755);
chmodSync(new URL('../dist/cli/kubectl-complete.js', import.meta.url), 0o755);
