// Conntrack only runs in a network namespace once something there asks for it: the kernel's
// state/conntrack matches call nf_ct_netns_get() when a rule using them is loaded. A BPF program
// at the netfilter hooks asks for nothing, so without this every packet would look INVALID. We
// take the same reference through nftables: a chain bound to no hook whose only rule reads
// `ct state` — its expression holds conntrack on in the namespace and no packet ever runs it.
import { execFile } from 'node:child_process';
import type { NetnsRef } from '../ipc/backend.js';

const TABLE = 'bpfilter_conntrack';
const RULESET = `table ip ${TABLE} {\n  chain hold {\n    ct state new\n  }\n}\n`;

/** Matches whose checkentry takes the conntrack reference (nf_ct_netns_get). */
const CT_MATCHES = new Set(['conntrack', 'state', 'connmark', 'helper', 'connbytes', 'connlimit']);

/** Whether a table using the extensions `uses` reads the kernel's conntrack entry. */
export function usesConntrack(uses: readonly string[]): boolean {
  return uses.some((n) => CT_MATCHES.has(n));
}

/**
 * Runs `cmd` in `netns`, off the event loop (a process start is milliseconds). Its exit status
 * is the outcome: a command that exits without reading all of `input` (sysctl reads none) makes
 * the write fail with EPIPE, which unheard was an uncaught error that took the helper down.
 */
export function inNetns(netns: NetnsRef, cmd: readonly string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('nsenter', [`--net=${netns.path}`, ...cmd], (err, _out, stderr) => {
      if (err) reject(new Error(`${cmd.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve();
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

/**
 * connbytes_mt_check turns on the netns' conntrack accounting (nf_ct_set_acct) for good: the
 * counters it reads exist only for entries created while it is on. So does loading such a table.
 */
export async function accountFor(netns: NetnsRef, uses: readonly string[]): Promise<void> {
  if (!uses.includes('connbytes')) return;
  await inNetns(netns, ['sysctl', '-qw', 'net.netfilter.nf_conntrack_acct=1']);
}

/** Takes (or drops) the namespace's conntrack reference to match what the table needs. */
export function holdConntrack(netns: NetnsRef, wanted: boolean): Promise<void> {
  // `table … {}` creates it if missing; deleting after that cannot fail for want of it.
  const script = wanted ? RULESET : `table ip ${TABLE} {}\ndelete table ip ${TABLE}\n`;
  return inNetns(netns, ['nft', '-f', '-'], script);
}
