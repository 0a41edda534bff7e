// -m connmark: struct xt_connmark_mtinfo1 (linux/netfilter/xt_connmark.h), revision 1 (the only
// one the kernel has), family UNSPEC. connmark_mt_check only takes a conntrack reference, so no
// value is refused. Matches ((ct->mark & mask) == mark) ^ invert; no conntrack entry: no match.
import { OptionError, parseValMask, readOptions } from './args.js';
import { mark, type MarkMatch } from './mark.js';
import type { Extension, SaveOption } from './types.js';
import { formatValMask, inv } from './util.js';

/** The same layout as xt_mark_mtinfo1: mark, mask, invert. */
export type ConnmarkMatch = MarkMatch;

export const connmark: Extension<ConnmarkMatch> = {
  kind: 'match',
  name: 'connmark',
  revisions: [1],
  dataSize: () => mark.dataSize(1),
  userSize: () => mark.userSize(1),
  decode(data: Buffer): ConnmarkMatch {
    return mark.decode(data, 1);
  },
  encode(v: ConnmarkMatch): Buffer {
    return mark.encode(v, 1);
  },
  check(): void {},
  format(v: ConnmarkMatch): string {
    return `${inv(v.invert !== 0)}--mark ${formatValMask(v.mark, v.mask)}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "connmark"', options, { mark: { names: ['mark'], invert: true } });
    if (o.mark === undefined) throw new OptionError('match "connmark": --mark is required');
    const { value, mask } = parseValMask(o.mark.args[0] ?? '', 'match "connmark": --mark');
    return {
      extension: connmark,
      revision: 1,
      value: { mark: value, mask, invert: o.mark.invert ? 1 : 0 },
    };
  },
};
