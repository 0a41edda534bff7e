// -m recent by test-run, for what the twin namespaces cannot show: the TTL recent_mt records
// for a packet with an output device and no socket of the namespace ("as seen before
// forwarding": ttl + 1, wrapping as the u8 it is), and the refusal of lists needing more stamps.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTable } from '../src/bpf/backend.js';
import { listEntries } from '../src/bpf/recent-lists.js';
import { RECENT_MAP, TABLE_SIZE } from '../src/bpf/codegen/recent.js';
import { mapLookupLocked, u32 } from '../src/bpf/syscall.js';
import { KernelTables } from './helpers/kernel-table.js';
import { runPacket } from './helpers/run.js';
import { ipv4, udp } from './helpers/packets.js';
import { filterTable } from './helpers/twins.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('rcr');
});
afterAll(() => kt.close());

const LOCAL_OUT = 3;

describe('-m recent by test-run', () => {
  it('records ttl + 1 for a packet with an output device and no socket', () => {
    const r = loadTable(kt.table(filterTable('-A OUTPUT -m recent --set --name T --rdest')));
    try {
      for (const [dst, ttl] of [
        ['10.0.0.7', 64],
        ['10.0.0.8', 255],
      ] as const) {
        runPacket(r.progs[LOCAL_OUT] as number, ipv4(17, udp(1, 2), { dst, ttl }), LOCAL_OUT);
      }
      const fd = r.instance.netns().fd(RECENT_MAP) as number;
      const entries = listEntries(mapLookupLocked(fd, u32(0), TABLE_SIZE));
      expect(entries.map((e) => [e.addr, e.ttl])).toEqual([
        ['10.0.0.7', 65],
        ['10.0.0.8', 0],
      ]);
    } finally {
      r.instance.close();
    }
  });

  it('refuses a list whose --hitcount needs more stamps than an entry keeps', () => {
    const t = kt.table(filterTable('-A INPUT -m recent --rcheck --hitcount 65 --name T'));
    expect(() => loadTable(t)).toThrow(/--hitcount 65 needs more than the 64 timestamps/);
    const ok = loadTable(
      kt.table(filterTable('-A INPUT -m recent --rcheck --hitcount 64 --name T')),
    );
    ok.instance.close();
  });
});
