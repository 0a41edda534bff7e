#!/usr/bin/env node
// The `bpfilter` command. Subcommands are added by the layer that owns them.
const [, , cmd = 'help'] = process.argv;

const usage = `usage: bpfilter <command>

commands:
  help        this text
`;

switch (cmd) {
  case 'help':
  case '--help':
    process.stdout.write(usage);
    break;
  default:
    process.stderr.write(`bpfilter: unknown command '${cmd}'\n${usage}`);
    process.exitCode = 2;
}
