// Compiles a C program against the system's iptables headers and compares every size and field
// offset we encode with abi.ts and wire.ts's layouts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as abi from '../src/translate/abi.js';
import * as wire from '../src/translate/wire.js';

const STRUCTS: Record<
  string,
  { c: string; layout: Readonly<Record<string, number>>; size?: number }
> = {
  ipt_ip: { c: 'struct ipt_ip', layout: wire.IPT_IP_LAYOUT, size: abi.SIZEOF_IPT_IP },
  ipt_entry: { c: 'struct ipt_entry', layout: wire.IPT_ENTRY_LAYOUT, size: abi.SIZEOF_IPT_ENTRY },
  xt_counters: {
    c: 'struct xt_counters',
    layout: wire.XT_COUNTERS_LAYOUT,
    size: abi.SIZEOF_XT_COUNTERS,
  },
  ipt_replace: {
    c: 'struct ipt_replace',
    layout: wire.IPT_REPLACE_LAYOUT,
    size: abi.SIZEOF_IPT_REPLACE,
  },
  ipt_getinfo: {
    c: 'struct ipt_getinfo',
    layout: wire.IPT_GETINFO_LAYOUT,
    size: abi.SIZEOF_IPT_GETINFO,
  },
  ipt_get_entries: {
    c: 'struct ipt_get_entries',
    layout: wire.IPT_GET_ENTRIES_LAYOUT,
    size: abi.SIZEOF_IPT_GET_ENTRIES,
  },
  xt_counters_info: {
    c: 'struct xt_counters_info',
    layout: wire.XT_COUNTERS_INFO_LAYOUT,
    size: abi.SIZEOF_XT_COUNTERS_INFO,
  },
  xt_get_revision: {
    c: 'struct xt_get_revision',
    layout: wire.XT_GET_REVISION_LAYOUT,
    size: abi.SIZEOF_XT_GET_REVISION,
  },
  xt_standard_target: {
    c: 'struct xt_standard_target',
    layout: wire.XT_STANDARD_TARGET_LAYOUT,
    size: abi.SIZEOF_XT_STANDARD_TARGET,
  },
  xt_error_target: {
    c: 'struct xt_error_target',
    layout: wire.XT_ERROR_TARGET_LAYOUT,
    size: abi.SIZEOF_XT_ERROR_TARGET,
  },
};

// Union members need their full C path.
const C_FIELD: Record<string, string> = {
  'xt_entry_match.match_size': 'u.user.match_size',
  'xt_entry_match.name': 'u.user.name',
  'xt_entry_match.revision': 'u.user.revision',
  'xt_entry_target.target_size': 'u.user.target_size',
  'xt_entry_target.name': 'u.user.name',
  'xt_entry_target.revision': 'u.user.revision',
};

const HEADERS: Record<
  string,
  { c: string; layout: Readonly<Record<string, number>>; size: number }
> = {
  xt_entry_match: {
    c: 'struct xt_entry_match',
    layout: wire.XT_ENTRY_MATCH_LAYOUT,
    size: abi.SIZEOF_XT_ENTRY_MATCH,
  },
  xt_entry_target: {
    c: 'struct xt_entry_target',
    layout: wire.XT_ENTRY_TARGET_LAYOUT,
    size: abi.SIZEOF_XT_ENTRY_TARGET,
  },
};

const CONSTANTS: Record<string, number> = {
  XT_TABLE_MAXNAMELEN: abi.XT_TABLE_MAXNAMELEN,
  XT_EXTENSION_MAXNAMELEN: abi.XT_EXTENSION_MAXNAMELEN,
  XT_FUNCTION_MAXNAMELEN: abi.XT_FUNCTION_MAXNAMELEN,
  IFNAMSIZ: abi.IFNAMSIZ,
  IPT_SO_SET_REPLACE: abi.IPT_SO_SET_REPLACE,
  IPT_SO_SET_ADD_COUNTERS: abi.IPT_SO_SET_ADD_COUNTERS,
  IPT_SO_GET_INFO: abi.IPT_SO_GET_INFO,
  IPT_SO_GET_ENTRIES: abi.IPT_SO_GET_ENTRIES,
  IPT_SO_GET_REVISION_MATCH: abi.IPT_SO_GET_REVISION_MATCH,
  IPT_SO_GET_REVISION_TARGET: abi.IPT_SO_GET_REVISION_TARGET,
  IPT_F_MASK: abi.IPT_F_MASK,
  IPT_INV_MASK: abi.IPT_INV_MASK,
  XT_RETURN: abi.XT_RETURN,
  'XT_ALIGN(1)': abi.XT_ALIGN,
  'sizeof(struct ipt_ip)': abi.SIZEOF_IPT_IP,
};

function program(): string {
  const lines: string[] = [];
  const all = { ...STRUCTS, ...HEADERS };
  for (const [name, s] of Object.entries(all)) {
    if (s.size !== undefined) lines.push(`P("sizeof ${name}", sizeof(${s.c}));`);
    for (const field of Object.keys(s.layout)) {
      const cField = C_FIELD[`${name}.${field}`] ?? field;
      lines.push(`P("offsetof ${name}.${field}", offsetof(${s.c}, ${cField}));`);
    }
  }
  for (const c of Object.keys(CONSTANTS)) lines.push(`P("const ${c}", (long)(${c}));`);
  return `#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <net/if.h>
#include <linux/netfilter_ipv4/ip_tables.h>
#define P(k, v) printf("%s %ld\\n", k, (long)(v))
int main(void) {
${lines.join('\n')}
return 0; }
`;
}

let dir = '';
const measured = new Map<string, number>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cdc-abi-'));
  writeFileSync(join(dir, 'abi.c'), program());
  execFileSync('gcc', ['-Wall', '-Werror', '-o', join(dir, 'abi'), join(dir, 'abi.c')]);
  const out = execFileSync(join(dir, 'abi'), { encoding: 'utf8' });
  for (const line of out.trim().split('\n')) {
    const at = line.lastIndexOf(' ');
    measured.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ABI sizes and offsets equal the C headers', () => {
  for (const [name, s] of Object.entries({ ...STRUCTS, ...HEADERS })) {
    it(name, () => {
      if (s.size !== undefined) expect(measured.get(`sizeof ${name}`)).toBe(s.size);
      for (const [field, offset] of Object.entries(s.layout)) {
        expect({ field, offset: measured.get(`offsetof ${name}.${field}`) }).toEqual({
          field,
          offset,
        });
      }
    });
  }
  it('constants', () => {
    for (const [c, v] of Object.entries(CONSTANTS)) {
      expect({ c, v: measured.get(`const ${c}`) }).toEqual({ c, v });
    }
  });
});
