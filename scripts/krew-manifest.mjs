#!/usr/bin/env node
// Builds the krew plugin archive and writes its manifest (deploy/krew/netpol.yaml) with the
// archive's sha256. The archive is self-contained apart from Node.js itself: the package as
// `npm pack` makes it (dist/, bpf/, deploy/, package.json) plus its production node_modules (type
// declarations and source maps left out), and `kubectl-netpol`, a wrapper that runs it with node.
//
//   node scripts/krew-manifest.mjs [--out deploy/krew/netpol.yaml] [--archive-dir .cache/krew]
//                                  [--url-base https://example.invalid/netpol/releases/download/v{version}]
//
// Only linux/amd64: the archive carries the native koffi build of the machine it is made on.
// Run `npm run build` first. The release URL is a PLACEHOLDER until netpol has a release page:
// pass --url-base when publishing, and upload the archive printed at the end to that place.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const repo = resolve(dirname(new URL(import.meta.url).pathname), '..');
const { values } = parseArgs({
  options: {
    out: { type: 'string', default: join(repo, 'deploy/krew/netpol.yaml') },
    'archive-dir': { type: 'string', default: join(repo, '.cache/krew') },
    'url-base': { type: 'string' },
  },
});
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
const version = pkg.version;
const PLACEHOLDER_BASE = 'https://example.invalid/netpol/releases/download/v{version}';
const urlBase = (values['url-base'] ?? PLACEHOLDER_BASE).replace('{version}', version);
const placeholder = values['url-base'] === undefined;

if (!existsSync(join(repo, 'dist/cli/main.js'))) {
  console.error('krew-manifest: dist/cli/main.js is missing; run `npm run build` first');
  process.exit(2);
}

const stage = mkdtempSync(join(tmpdir(), 'netpol-krew-'));
try {
  // 1. The package exactly as npm would publish it.
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', stage], { cwd: repo, encoding: 'utf8' }))[0];
  const root = join(stage, 'root');
  mkdirSync(root);
  execFileSync('tar', ['-xzf', join(stage, packed.filename), '-C', root]);
  const app = join(root, 'netpol');
  execFileSync('mv', [join(root, 'package'), app]);

  // 2. Production dependencies, from this checkout's node_modules (npm ci installed them).
  const paths = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: repo, encoding: 'utf8' })
    .split('\n')
    .filter((p) => p && p !== repo);
  const skip = /\.(?:map|d\.ts|d\.mts|d\.cts|md)$/;
  for (const p of paths) {
    const rel = relative(repo, p);
    if (!rel.startsWith('node_modules')) continue;
    cpSync(p, join(app, rel), {
      recursive: true,
      dereference: true,
      filter: (src) => !skip.test(src) || /LICEN[CS]E/i.test(src),
    });
  }

  // 3. The plugin's entry: krew links it into ~/.krew/bin; it finds the app next to itself.
  const wrapper = join(root, 'kubectl-netpol');
  writeFileSync(
    wrapper,
    `#!/bin/sh
# kubectl plugin entry installed by krew: runs netpol with the Node.js on PATH (>= 20).
here=$(dirname "$(readlink -f "$0")")
exec node "$here/netpol/kubectl-netpol" "$@"
`,
  );
  chmodSync(wrapper, 0o755);
  // The CLI names itself after the script node runs (argv[1]): through this link it is
  // `kubectl netpol` in help and errors, like the npm-installed kubectl-netpol bin.
  symlinkSync('dist/cli/main.js', join(app, 'kubectl-netpol'));
  // krew-index wants the licence in the archive; it goes in when the repository has one.
  const license = existsSync(join(repo, 'LICENSE'));
  if (license) cpSync(join(repo, 'LICENSE'), join(root, 'LICENSE'));

  // 4. A reproducible archive: sorted entries, fixed times and owners, gzip without a timestamp.
  mkdirSync(values['archive-dir'], { recursive: true });
  const archiveName = `netpol-v${version}-linux.tar.gz`;
  const archive = join(values['archive-dir'], archiveName);
  execFileSync('tar', ['--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '-cf', join(stage, 'a.tar'), '-C', root, '.'], {});
  execFileSync('sh', ['-c', `gzip -n -9 -c "${join(stage, 'a.tar')}" > "${archive}"`]);
  const sha256 = createHash('sha256').update(readFileSync(archive)).digest('hex');
  const uri = `${urlBase}/${archiveName}`;

  const platform = (arch) => `  - selector:
      matchLabels:
        os: linux
        arch: ${arch}
${placeholder ? '    # PLACEHOLDER URL: netpol has no release page yet; regenerate with --url-base when publishing.\n' : ''}    uri: ${uri}
    sha256: ${sha256}
    bin: kubectl-netpol
    files:
    - from: kubectl-netpol
      to: .
    - from: netpol
      to: netpol${license ? '\n    - from: LICENSE\n      to: .' : ''}`;
  const manifest = `# krew plugin manifest for netpol — generated by scripts/krew-manifest.mjs from the packed
# package (${packed.filename}); the sha256 is that of ${archiveName} as built from this checkout.
# Regenerate it (and upload the archive) for every release.
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: netpol
spec:
  version: v${version}
  homepage: https://example.invalid/netpol  # PLACEHOLDER: the project's home page
  shortDescription: Learn least-privilege NetworkPolicy from observed connections
  description: |
    netpol turns the TCP connections Kubernetes workloads really make (observed with eBPF, or
    recorded) into least-privilege NetworkPolicy, and audits flows against policies: which
    connections a set of policies would deny, and which policy dropped each one.
    Commands: learn, diff, check (CI reports: JUnit, SARIF, GitHub annotations), explain, graph,
    trace tcpconnect, completion.
  caveats: |
    netpol runs on Node.js >= 20, which must be on PATH.
    Observing connections (learn --local, trace tcpconnect) needs root and a kernel with BTF.
  platforms:
${platform('amd64')}
`;
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(values.out, manifest);
  console.log(JSON.stringify({ manifest: values.out, archive, sha256, bytes: statSync(archive).size, uri, placeholder }));
} finally {
  rmSync(stage, { recursive: true, force: true });
}
