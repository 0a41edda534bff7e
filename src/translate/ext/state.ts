// -m state: struct xt_state_info (linux/netfilter/xt_state.h), revision 0, family UNSPEC.
// state_mt_check only takes a conntrack reference (always available here), so nothing is refused.
import { OptionError, parseFlagList, readOptions } from './args.js';
import {
  conntrack,
  XT_CONNTRACK_STATE,
  XT_CONNTRACK_STATE_ALIAS,
  XT_CONNTRACK_STATE_ESTABLISHED,
  XT_CONNTRACK_STATE_INVALID,
  XT_CONNTRACK_STATE_NEW,
  XT_CONNTRACK_STATE_RELATED,
  XT_CONNTRACK_STATE_UNTRACKED,
  type ConntrackMatch,
} from './conntrack.js';
import type { Extension, SaveOption } from './types.js';
import { payload, zeroed } from './util.js';
import { And, JEq, LoadMem, R2, R3, Size } from '../../bpf/asm/index.js';
import { ctStateBit } from '../../bpf/codegen/ct.js';
import { RECORD, type EvalContext } from '../../bpf/codegen/eval.js';

/** XT_STATE_BIT(ctinfo) = 1 << (ctinfo % IP_CT_IS_REPLY + 1); INVALID is bit 0. */
export const XT_STATE_INVALID = 1 << 0;
export const XT_STATE_ESTABLISHED = 1 << 1;
export const XT_STATE_RELATED = 1 << 2;
export const XT_STATE_NEW = 1 << 3;
/** 1 << (IP_CT_NUMBER + 1), IP_CT_NUMBER = 5. */
export const XT_STATE_UNTRACKED = 1 << 6;

export interface StateMatch {
  readonly statemask: number;
}

const SIZE = 4;

export const state: Extension<StateMatch> = {
  kind: 'match',
  name: 'state',
  revisions: [0],
  dataSize: () => SIZE,
  userSize: () => SIZE,
  decode(data: Buffer): StateMatch {
    return { statemask: payload(data, SIZE).readUInt32LE(0) };
  },
  encode(v: StateMatch): Buffer {
    const b = zeroed(SIZE);
    b.writeUInt32LE(v.statemask >>> 0, 0);
    return b;
  },
  check(): void {},
  format(v: StateMatch): string {
    return `--state ${stateNames(v.statemask)}`;
  },
  parse(options: readonly SaveOption[]) {
    // iptables implements `-m state` as an alias of conntrack (libxt_conntrack's state
    // revisions 1-3): the kernel gets conntrack revision 3 with the alias flag, never xt_state.
    const o = readOptions('match "state"', options, {
      state: { names: ['state'], invert: true },
    });
    if (o.state === undefined) throw new OptionError('match "state": --state is required');
    const names: readonly (readonly [number, string])[] = [
      [XT_CONNTRACK_STATE_INVALID, 'INVALID'],
      [XT_CONNTRACK_STATE_ESTABLISHED, 'ESTABLISHED'],
      [XT_CONNTRACK_STATE_NEW, 'NEW'],
      [XT_CONNTRACK_STATE_RELATED, 'RELATED'],
      [XT_CONNTRACK_STATE_UNTRACKED, 'UNTRACKED'],
    ];
    const value: ConntrackMatch = {
      ...conntrack.decode(Buffer.alloc(0), 3),
      matchFlags: XT_CONNTRACK_STATE | XT_CONNTRACK_STATE_ALIAS,
      invertFlags: o.state.invert ? XT_CONNTRACK_STATE : 0,
      stateMask: parseFlagList(o.state.args[0] ?? '', names, 'match "state": --state'),
    };
    return { extension: conntrack, revision: 3, value };
  },
  engine: {
    recordSize: SIZE,
    record: (v: StateMatch) => state.encode(v, 0),
    evaluate: (cg: EvalContext) => [
      ...ctStateBit(XT_STATE_UNTRACKED, XT_STATE_INVALID, cg),
      LoadMem(R2, RECORD, 0, Size.W),
      And.reg(R3, R2),
      JEq.imm32(R3, 0, cg.noMatch),
    ],
  },
};

const STATE_NAMES: readonly (readonly [number, string])[] = [
  [XT_STATE_INVALID, 'INVALID'],
  [XT_STATE_NEW, 'NEW'],
  [XT_STATE_RELATED, 'RELATED'],
  [XT_STATE_ESTABLISHED, 'ESTABLISHED'],
  [XT_STATE_UNTRACKED, 'UNTRACKED'],
];

/** Comma list of state names for a mask (iptables-save order), unknown bits in hex. */
export function stateNames(mask: number): string {
  const names = STATE_NAMES.filter(([bit]) => (mask & bit) !== 0).map(([, n]) => n);
  const known = STATE_NAMES.reduce((a, [bit]) => a | bit, 0);
  const rest = (mask & ~known) >>> 0;
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.length === 0 ? 'none' : names.join(',');
}
