// Conntrack only runs in a network namespace once something there asks for it: the kernel's
// state/conntrack matches call nf_ct_netns_get() when a rule using them is loaded. A BPF program
// at the netfilter hooks asks for nothing, so without this every packet would look INVALID. We
// take the same reference through nftables: a chain bound to no hook whose only rule reads
// `ct state` — its expression holds conntrack on in the namespace and no packet ever runs it.
import { execFileSync } from 'node:child_process';
import type { NetnsRef } from '../ipc/backend.js';
import type { Table } from '../translate/ir.js';

const TABLE = 'bpfilter_conntrack';
const RULESET = `table ip ${TABLE} {\n  chain hold {\n    ct state new\n  }\n}\n`;

/** Matches whose checkentry takes the conntrack reference (nf_ct_netns_get). */
const CT_MATCHES = new Set(['conntrack', 'state', 'connmark', 'helper', 'connbytes', 'connlimit']);

const uses = (table: Table, names: ReadonlySet<string>): boolean =>
  table.chains.some((c) => c.rules.some((r) => r.matches.some((m) => names.has(m.extension.name))));

/** Whether the table has rules whose matches read the kernel's conntrack entry. */
export function usesConntrack(table: Table): boolean {
  return uses(table, CT_MATCHES);
}

/**
 * connbytes_mt_check turns on the netns' conntrack accounting (nf_ct_set_acct) for good: the
 * counters it reads exist only for entries created while it is on. So does loading such a table.
 */
export function accountFor(netns: NetnsRef, table: Table): void {
  if (!uses(table, new Set(['connbytes']))) return;
  execFileSync(
    'nsenter',
    [`--net=${netns.path}`, 'sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
}

function nft(netns: NetnsRef, script: string): void {
  execFileSync('nsenter', [`--net=${netns.path}`, 'nft', '-f', '-'], {
    input: script,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
}

/** Takes (or drops) the namespace's conntrack reference to match what the table needs. */
export function holdConntrack(netns: NetnsRef, wanted: boolean): void {
  // `table … {}` creates it if missing; deleting after that cannot fail for want of it.
  nft(netns, wanted ? RULESET : `table ip ${TABLE} {}\ndelete table ip ${TABLE}\n`);
}
