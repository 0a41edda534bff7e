// LOG and REJECT in BPF: the program hands the packet to the helper through the namespace's
// ring buffer (codegen/event.ts). Test-runs on crafted packets, records read back by the ring
// reader (bpf/ringbuf.ts): what was sent, which entry, verdicts and counters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTable, readCounters, type LoadedTable } from '../../src/bpf/backend.js';
import {
  BUDGET,
  BUDGET_VALUE_SIZE,
  budgetValue,
  EV,
  EventKind,
  parseEvent,
  type Event,
} from '../../src/bpf/codegen/event.js';
import { RingReader } from '../../src/bpf/ringbuf.js';
import { mapCreate, mapLookup, mapUpdate, MapType, u32 } from '../../src/bpf/syscall.js';
import { close } from '../../src/bpf/syscall.js';
import { KernelTables } from '../helpers/kernel-table.js';
import { ringWriter } from '../helpers/ring-writer.js';
import { runPacket } from '../helpers/run.js';
import { ipv4, tcp, udp } from '../helpers/packets.js';
import { filterTable } from '../helpers/twins.js';

let kt: KernelTables;
beforeAll(() => {
  kt = new KernelTables('evt');
});
afterAll(() => kt.close());

const DROP = 0;
const ACCEPT = 1;
const LOCAL_OUT = 3;

function withRing(
  save: string,
  fn: (r: LoadedTable, events: () => Event[], ring: number) => void,
  budget?: number,
): void {
  const ring = mapCreate({
    type: MapType.RINGBUF,
    keySize: 0,
    valueSize: 0,
    maxEntries: 1 << 16,
    name: 'test_ev',
  });
  const got: Event[] = [];
  const reader = new RingReader((e) => {
    throw e;
  });
  reader.add(ring, (rec) => got.push(parseEvent(rec)));
  const r = loadTable(kt.table(save), undefined, {
    events: () => ring,
    ...(budget !== undefined ? { budget: () => budget } : {}),
  });
  try {
    fn(
      r,
      () => {
        reader.drain();
        return got.splice(0);
      },
      ring,
    );
  } finally {
    r.instance.close();
    reader.close();
    close(ring);
  }
}

describe('event records', () => {
  it("stop at the namespace's ceiling per kind, each one turned away counted", () => {
    const budget = mapCreate({
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: BUDGET_VALUE_SIZE,
      maxEntries: 1,
      name: 'test_bud',
    });
    // A burst of 5 REJECTs and 3 LOGs, refilled at one a minute: none during the test.
    mapUpdate(
      budget,
      u32(0),
      budgetValue({
        [EventKind.REJECT]: { perSec: 1 / 60, burst: 5 },
        [EventKind.LOG]: { perSec: 1 / 60, burst: 3 },
      }),
    );
    const dropped = (kind: EventKind): bigint =>
      mapLookup(budget, u32(0), BUDGET_VALUE_SIZE).readBigUInt64LE(
        kind * BUDGET.SIZE + BUDGET.DROPPED,
      );
    try {
      withRing(
        filterTable(`
-A OUTPUT -p udp --dport 514 -j LOG
-A OUTPUT -p udp -j REJECT
`),
        (r, events) => {
          const out = r.progs[LOCAL_OUT] as number;
          for (let i = 0; i < 8; i++) {
            // Past the ceiling the packet still meets its verdict: only the record is not sent.
            expect(runPacket(out, ipv4(17, udp(1000 + i, 53)), LOCAL_OUT)).toBe(DROP);
            expect(runPacket(out, ipv4(17, udp(1000 + i, 514)), LOCAL_OUT)).toBe(DROP);
          }
          const got = events();
          expect(got.filter((e) => e.kind === EventKind.REJECT)).toHaveLength(5);
          expect(got.filter((e) => e.kind === EventKind.LOG)).toHaveLength(3);
          expect(dropped(EventKind.REJECT)).toBe(11n);
          expect(dropped(EventKind.LOG)).toBe(5n);
          expect(readCounters(r.counters, 1, 3)[0]?.pcnt).toBe(16n);
        },
        budget,
      );
    } finally {
      close(budget);
    }
  });

  it('LOG continues to the next rule; REJECT drops; each sends one record', () => {
    withRing(
      filterTable(`
-A OUTPUT -p udp -j LOG --log-prefix "udp: " --log-level 6 --log-tcp-options
-A OUTPUT -p udp --dport 53 -j REJECT --reject-with icmp-host-prohibited
-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset
`),
      (r, events) => {
        const out = r.progs[LOCAL_OUT] as number;
        const dns = ipv4(17, udp(1000, 53), { ttl: 9 });
        expect(runPacket(out, dns, LOCAL_OUT)).toBe(DROP);
        const [log, rej, ...rest] = events();
        expect(rest).toEqual([]);
        expect(log?.kind).toBe(EventKind.LOG);
        // entries: INPUT policy 0, FORWARD policy 1, OUTPUT rules from 2
        expect(log?.entry).toBe(2);
        expect(log?.hook).toBe(LOCAL_OUT);
        expect(log?.info.subarray(0, 7)).toEqual(Buffer.from([6, 2, ...Buffer.from('udp: ')]));
        expect(log?.packet).toEqual(dns);
        expect(log?.skbLen).toBe(dns.length);
        expect(log?.out?.name).toBe('lo');
        expect(log?.in).toBeUndefined();
        expect(log?.mac).toBeUndefined();
        expect(rej?.kind).toBe(EventKind.REJECT);
        expect(rej?.entry).toBe(3);
        expect(rej?.info.readUInt32LE(0)).toBe(6);
        const other = ipv4(17, udp(1000, 54));
        expect(runPacket(out, other, LOCAL_OUT)).toBe(ACCEPT);
        expect(events().map((e) => e.entry)).toEqual([2]);
        expect(readCounters(r.counters, 1, 2)[0]?.pcnt).toBe(2n);
        expect(readCounters(r.counters, 1, 3)[0]?.pcnt).toBe(1n);
      },
    );
  });

  it('works from the bpf_loop walk (user chains with RETURN) too', () => {
    withRing(
      filterTable(
        `
-A OUTPUT -j logit
-A OUTPUT -p tcp -j REJECT --reject-with tcp-reset
-A logit -p tcp -j LOG --log-prefix "in chain "
-A logit -j RETURN
`,
        ['logit'],
      ),
      (r, events) => {
        const out = r.progs[LOCAL_OUT] as number;
        const syn = ipv4(6, tcp(1234, 80, 0x02));
        expect(runPacket(out, syn, LOCAL_OUT)).toBe(DROP);
        const got = events();
        expect(got.map((e) => [e.kind, e.entry])).toEqual([
          [EventKind.LOG, 6], // logit: head 5, LOG 6
          [EventKind.REJECT, 3],
        ]);
        expect(got[1]?.packet).toEqual(syn);
      },
    );
  });

  it('captures at most CAPTURE bytes of a large packet and reports skb->len', () => {
    withRing(filterTable('-A OUTPUT -j LOG'), (r, events) => {
      const big = ipv4(17, udp(1, 2, Buffer.alloc(2000, 7)));
      expect(runPacket(r.progs[LOCAL_OUT] as number, big, LOCAL_OUT)).toBe(ACCEPT);
      const [ev] = events();
      expect(ev?.skbLen).toBe(big.length);
      expect(ev?.packet).toEqual(big.subarray(0, EV.SIZE - EV.PACKET));
    });
  });
});

describe('record hygiene', () => {
  it('fields a record does not set are zero, whatever an earlier record left in the ring', () => {
    withRing(filterTable('-A OUTPUT -p tcp -j LOG --log-uid'), (r, events, ring) => {
      // Fill every slot of the ring with records of 0xff bytes, then let ours reuse them.
      const junk = ringWriter(ring, EV.SIZE, -1);
      try {
        const out = r.progs[LOCAL_OUT] as number;
        const got = [];
        for (let round = 0; round < 3; round++) {
          for (let i = 0; i < 40; i++) runPacket(junk, ipv4(17, udp(1, 2)), LOCAL_OUT);
          events();
          for (let i = 0; i < 40; i++) runPacket(out, ipv4(6, tcp(1, 2, 0x02)), LOCAL_OUT);
          got.push(...events());
        }
        expect(got.length).toBeGreaterThan(30);
        // Test-run packets have no socket, no conntrack entry and no input device.
        for (const e of got) {
          expect(e.owner).toBeUndefined();
          expect(e.ctImage).toBeUndefined();
          expect(e.devType).toBe(0);
        }
      } finally {
        close(junk);
      }
    });
  });
});
