/** `netpol version`: the client version, as `kubectl version --client` prints it, or as JSON with -o json. */
import { createRequire } from 'node:module';
import { arch, platform } from 'node:process';
import { Command, Option } from 'commander';

export const CLIENT_VERSION = (createRequire(import.meta.url)('../../../../package.json') as { version: string }).version;

export interface VersionInfo {
  clientVersion: { version: string; nodeVersion: string; platform: string };
}

export function versionInfo(): VersionInfo {
  return { clientVersion: { version: `v${CLIENT_VERSION}`, nodeVersion: process.version, platform: `${platform}/${arch === 'x64' ? 'amd64' : arch}` } };
}

export function versionCommand(): Command {
  return new Command('version')
    .summary('print the client version')
    .description('Print the netpol client version (like `kubectl version --client`).')
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .addHelpText('after', '\nExamples:\n  netpol version\n  netpol version -o json')
    .action((flags: { output: 'text' | 'json' }) => {
      const info = versionInfo();
      process.stdout.write(flags.output === 'json' ? JSON.stringify(info, null, 2) + '\n' : `Client Version: ${info.clientVersion.version}\n`);
    });
}
