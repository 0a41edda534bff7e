// A compute worker's first table runs in V8's interpreter and baseline code: check, plan,
// classify and image of a cold fw1 10k restore took 250 / 72 / 296 / 53 ms on a fresh worker and
// 140 / 40 / 105 / 20 after one other 10k table had gone through; an -A on that table took
// 180 ms of compute first and 40 ms by the fifth. A helper is started to be used at once (the
// boot's restore, a container's first rules), so a fresh worker first puts a synthetic table
// through the same passes: a restore of ClassBench-like rules, then one-rule appends that meet
// the entry memo and the tree cache as an -A does. It goes one pass per turn of the event loop
// and stops for good at the first real request, so a request waits at most for one pass.
//
// The table is made here, not read from a file: rules over prefixes, port ranges and protocols,
// a few chains to jump to, and the matches and targets rulesets use most, so that their decode
// and check are compiled too.
import { parseSave } from '../../translate/save.js';
import { replaceBlob } from '../../translate/table.js';
import type { Table } from '../../translate/ir.js';
import type { Compiler } from './compute.js';
import { fits, roomFor, type Capacity } from './image.js';

/** Rules of the synthetic restore: enough for V8 to optimise every per-entry and per-node loop. */
export const WARM_RULES = 3000;
/** One-rule appends after it. */
const APPENDS = 4;
/** The key the warm-up's memo and trees live under; no namespace id has a letter. */
const KEY = 'warmup/filter';

/** A small seeded PRNG (xorshift32): the same table on every start. */
function rand(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

const CHAINS = ['w_a', 'w_b', 'w_c'];

/** iptables-save text of `n` ClassBench-like rules over INPUT, FORWARD, OUTPUT and CHAINS. */
export function warmRules(n: number, seed = 0x5eed): string {
  const r = rand(seed);
  // Mostly specific addresses and few rules that no tree can place (conntrack, -p only): those
  // go to every leaf of their block, as they would in a real ruleset's.
  const prefix = (): string => {
    const len = [8, 16, 24, 24, 28, 32, 32, 32][r(8)] as number;
    return `${10 + r(200)}.${r(256)}.${r(256)}.${r(256)}/${len}`;
  };
  const ports = (): string => {
    const lo = r(65536);
    return r(3) === 0 ? String(lo) : `${lo}:${Math.min(65535, lo + r(2048))}`;
  };
  const lines = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT DROP [0:0]'];
  for (const c of CHAINS) lines.push(`:${c} - [0:0]`);
  lines.push('-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT');
  lines.push('-A INPUT -i lo -j ACCEPT');
  const chains = ['INPUT', 'FORWARD', 'OUTPUT', ...CHAINS];
  for (let i = 0; i < n; i++) {
    const chain = chains[i % 7 < 4 ? 0 : r(chains.length)] as string;
    const parts = [`-A ${chain}`];
    parts.push(`-s ${prefix()}`);
    if (r(4) > 0) parts.push(`-d ${prefix()}`);
    if (r(16) === 0) parts.push(chain === 'OUTPUT' ? '-o eth0' : '-i eth+');
    switch (r(8)) {
      case 0:
        parts.push('-p icmp -m icmp --icmp-type 8');
        break;
      case 1:
        parts.push(`-p udp -m udp --sport ${ports()} --dport ${ports()}`);
        break;
      case 2:
        parts.push(`-p tcp -m multiport --dports ${r(1024)},${1024 + r(1024)},${2048 + r(1024)}`);
        break;
      case 3:
        parts.push(`-p ${r(256)}`);
        break;
      default:
        parts.push(`-p tcp -m tcp --sport ${ports()} --dport ${ports()}`);
        if (r(4) === 0) parts.push('--tcp-flags SYN,RST,ACK SYN');
    }
    const builtin = chain === 'INPUT' || chain === 'FORWARD' || chain === 'OUTPUT';
    const t = r(16);
    if (builtin && t < 2) parts.push(`-j ${CHAINS[r(CHAINS.length)] as string}`);
    else if (t === 2) parts.push('-j LOG --log-prefix "warm "');
    else if (t === 3) parts.push('-j REJECT --reject-with icmp-port-unreachable');
    else if (!builtin && t === 4) parts.push('-j RETURN');
    else parts.push(t % 2 === 0 ? '-j ACCEPT' : '-j DROP');
    lines.push(parts.join(' '));
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** The passes of one apply of `blob` on `c`, one closure per pass. */
function applySteps(c: Compiler, blob: () => Uint8Array, half: number, room: { cap?: Capacity }) {
  let handle = 0;
  return [
    () => (handle = c.check(KEY, blob()).handle),
    () => c.plan(handle, 250),
    () => {
      const { need } = c.classify(handle);
      if (room.cap === undefined || !fits(need, room.cap)) room.cap = roomFor(need);
    },
    () => c.image(handle, room.cap as Capacity, half, 250, new Map()),
    () => c.layout(handle),
    () => c.release(handle),
  ];
}

/** Save texts parsed per step: a cold parse runs at about 6 rules a millisecond. */
const PARSE_CHUNK = 500;

/** Every pass of the warm-up, in order. */
export function warmUpSteps(c: Compiler, rules = WARM_RULES): (() => unknown)[] {
  let table: Table | undefined;
  const parse = (n: number, seed: number): Table => {
    const saved = parseSave(warmRules(n, seed)).tables[0];
    if (saved === undefined) throw new Error('warm-up: no table');
    return saved.table;
  };
  // The chunks' chains, joined by position (every chunk declares the same chains in one order).
  const join = (more: Table): void => {
    table =
      table === undefined
        ? more
        : {
            ...table,
            chains: table.chains.map((ch, k) => ({
              ...ch,
              rules: [...ch.rules, ...(more.chains[k]?.rules ?? [])],
            })),
          };
  };
  const whole = (): Table => {
    if (table === undefined) throw new Error('warm-up: table not built');
    return table;
  };
  const steps: (() => unknown)[] = [];
  for (let at = 0; at < rules; at += PARSE_CHUNK) {
    steps.push(() => join(parse(Math.min(PARSE_CHUNK, rules - at), 0x5eed + at)));
  }
  const room: { cap?: Capacity } = {};
  let blob: Uint8Array | undefined;
  steps.push(
    () => (blob = replaceBlob(whole())),
    ...applySteps(c, () => blob ?? replaceBlob(whole()), 0, room),
  );
  for (let a = 1; a <= APPENDS; a++) {
    const appended = (): Uint8Array => {
      const t = whole();
      const input = t.chains[0];
      const extra = parse(1, a).chains[0]?.rules ?? [];
      if (input === undefined) throw new Error('warm-up: no INPUT');
      const rules = [...input.rules, ...extra];
      return replaceBlob({ ...t, chains: [{ ...input, rules }, ...t.chains.slice(1)] });
    };
    steps.push(...applySteps(c, appended, a % 2, room));
  }
  steps.push(() => c.forget('warmup'));
  return steps;
}

/**
 * Runs the warm-up on `c`, one step per turn of the loop, until it ends or `stop()` says a real
 * request came; `done` is told either way (with the error, should a step throw: the warm-up is
 * not worth a worker).
 */
export function warmUp(
  c: Compiler,
  stop: () => boolean,
  done: (ran: boolean, error?: unknown) => void,
): void {
  const steps = warmUpSteps(c);
  let i = 0;
  const next = (): void => {
    if (stop()) {
      c.forget('warmup');
      done(false);
      return;
    }
    const step = steps[i++];
    if (step === undefined) {
      done(true);
      return;
    }
    try {
      step();
    } catch (e) {
      c.forget('warmup');
      done(false, e);
      return;
    }
    setImmediate(next);
  };
  setImmediate(next);
}
