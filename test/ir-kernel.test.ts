// Blob ⇄ IR against the real kernel: rule sets loaded with the stock iptables-legacy-restore in a
// throwaway netns, read back with GET_INFO/GET_ENTRIES (a tiny C program), then decoded by
// checkReplace and re-encoded by tableToBlob: the bytes must be the kernel's, byte for byte.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ifaceWildcard } from '../src/translate/ir.js';
import { encodeGetinfo, initialTable, tableToBlob } from '../src/translate/table.js';
import { checkReplace } from '../src/translate/validate.js';

const NS = `cdc-ir-${process.pid}`;
let dir = '';
let dump = '';

function kernelTable(rules: string | null): { info: Buffer; entries: Buffer } {
  if (rules !== null)
    execFileSync('ip', ['netns', 'exec', NS, 'iptables-legacy-restore'], { input: rules });
  const out = execFileSync('ip', ['netns', 'exec', NS, dump, 'filter'], { encoding: 'utf8' })
    .trim()
    .split('\n');
  return { info: Buffer.from(out[0] ?? '', 'hex'), entries: Buffer.from(out[1] ?? '', 'hex') };
}

/** The ipt_replace libiptc would send for these entries (num_counters = 1 entry). */
function replaceFor(info: Buffer, entries: Buffer): Buffer {
  const hdr = Buffer.alloc(96);
  info.copy(hdr, 0, 0, 36); // name, valid_hooks
  hdr.writeUInt32LE(info.readUInt32LE(76), 36); // num_entries
  hdr.writeUInt32LE(info.readUInt32LE(80), 40); // size
  info.copy(hdr, 44, 36, 76); // hook_entry, underflow
  hdr.writeUInt32LE(1, 84);
  return Buffer.concat([hdr, entries]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cdc-ir-'));
  dump = join(dir, 'dump');
  execFileSync('gcc', [
    '-Wall',
    '-o',
    dump,
    join(import.meta.dirname, 'helpers', 'cdc-dump-table.c'),
  ]);
  execFileSync('ip', ['netns', 'add', NS]);
});

afterAll(() => {
  execFileSync('ip', ['netns', 'del', NS]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('blob ⇄ IR equals the kernel', () => {
  it('initialTable("filter") is the table a fresh netns has (GET_INFO and GET_ENTRIES)', () => {
    const k = kernelTable(null);
    const table = initialTable('filter');
    expect(tableToBlob(table).entries.toString('hex')).toBe(k.entries.toString('hex'));
    expect(encodeGetinfo(table).toString('hex')).toBe(k.info.toString('hex'));
  });

  const RULESETS: Record<string, [string, string[]]> = {
    'policies, addresses, interfaces, protocols, jump and goto': [
      `*filter
:INPUT DROP [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:web - [0:0]
:deep - [0:0]
-A INPUT -s 10.0.0.0/8 -i eth+ -p tcp -j web
-A INPUT ! -s 192.168.1.1/32 ! -i veth0 -p 17 -j ACCEPT
-A INPUT -f -j DROP
-A FORWARD ! -d 1.2.3.4/32 -o lo -g web
-A FORWARD ! -p icmp -j deep
-A OUTPUT -j QUEUE
-A web -p udp -j RETURN
-A web -j deep
-A web -j ACCEPT
-A deep -d 172.16.0.0/12 -j DROP
COMMIT
`,
      ['INPUT:3:DROP', 'FORWARD:2:ACCEPT', 'OUTPUT:1:ACCEPT', 'deep:1', 'web:3'],
    ],
    'every registered extension': [
      `*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:logdrop - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m state --state NEW -p tcp --dport 22 --tcp-flags SYN,ACK SYN -j ACCEPT
-A INPUT -p tcp -m multiport --dports 80,443,8000:8080 -m comment --comment "web ports" -j ACCEPT
-A INPUT -p udp --sport 53 --dport 1024:65535 -j ACCEPT
-A INPUT -p icmp --icmp-type echo-request -m limit --limit 5/sec --limit-burst 10 -j ACCEPT
-A INPUT -m iprange --src-range 10.0.0.1-10.0.0.50 -m length --length 64:1500 -j ACCEPT
-A INPUT -m ttl --ttl-gt 64 -m mark --mark 0x10/0xff -j logdrop
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A logdrop -j LOG --log-prefix "drop: " --log-level 4 --log-tcp-options
-A logdrop -j DROP
COMMIT
`,
      ['INPUT:10:DROP', 'FORWARD:0:DROP', 'OUTPUT:0:ACCEPT', 'logdrop:2'],
    ],
    'empty user chain, nothing jumps to it': [
      `*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:lonely - [0:0]
COMMIT
`,
      ['INPUT:0:ACCEPT', 'FORWARD:0:DROP', 'OUTPUT:0:ACCEPT', 'lonely:0'],
    ],
  };

  for (const [name, [rules, shape]] of Object.entries(RULESETS)) {
    it(name, () => {
      const k = kernelTable(rules);
      const table = checkReplace(replaceFor(k.info, k.entries));
      expect(
        table.chains.map((c) =>
          [c.name, c.rules.length, c.kind === 'builtin' ? c.policy : '']
            .filter((x) => x !== '')
            .join(':'),
        ),
      ).toEqual(shape);
      expect(tableToBlob(table).entries.toString('hex')).toBe(k.entries.toString('hex'));
      expect(encodeGetinfo(table).toString('hex')).toBe(k.info.toString('hex'));
    });
  }

  it('decodes jumps, gotos, verdicts and ipt_ip fields', () => {
    const k = kernelTable(
      RULESETS['policies, addresses, interfaces, protocols, jump and goto']?.[0] ?? '',
    );
    const t = checkReplace(replaceFor(k.info, k.entries));
    const [input, forward] = t.chains;
    expect(input?.rules[0]?.target).toEqual({ kind: 'jump', chain: 'web', index: 0 });
    expect(input?.rules[0]?.ip).toMatchObject({
      src: 0x0a000000,
      srcMask: 0xff000000,
      proto: 6,
      invflags: 0,
    });
    expect(input?.rules[0]?.ip.inIface.name).toBe('eth+');
    const [in0, in1] = [input?.rules[0]?.ip.inIface, input?.rules[1]?.ip.inIface];
    expect(in0 && ifaceWildcard(in0)).toEqual({ name: 'eth', prefix: true, any: false });
    expect(in1 && ifaceWildcard(in1)).toEqual({ name: 'veth0', prefix: false, any: false });
    const out = input?.rules[0]?.ip.outIface;
    expect(out && ifaceWildcard(out)).toEqual({ name: '', prefix: false, any: true });
    expect(input?.rules[0]?.hookMask).toBe(1 << 1);
    expect(input?.rules[1]?.ip.invflags).toBe(0x08 | 0x01);
    expect(input?.rules[2]?.ip.flags).toBe(0x01);
    expect(forward?.rules[0]?.target).toEqual({ kind: 'goto', chain: 'web', index: 0 });
    expect(forward?.rules[1]?.ip).toMatchObject({ proto: 1, invflags: 0x40 });
    const web = t.chains.find((c) => c.name === 'web');
    expect(web?.rules.map((r) => r.target)).toEqual([
      { kind: 'verdict', verdict: 'RETURN' },
      { kind: 'jump', chain: 'deep', index: 0 },
      { kind: 'verdict', verdict: 'ACCEPT' },
    ]);
    expect(web?.rules[0]?.hookMask).toBe((1 << 1) | (1 << 2));
  });
});
