// -m comment: struct xt_comment_info (linux/netfilter/xt_comment.h), revision 0, family UNSPEC.
// The kernel neither checks nor reads it; it only hands the bytes back on GET_ENTRIES.
import { OptionError, readOptions } from './args.js';
import type { Extension, SaveOption } from './types.js';
import { cString, payload, rawChars, writeChars, zeroed } from './util.js';

export const XT_MAX_COMMENT_LEN = 256;

export interface CommentMatch {
  /**
   * The 256 bytes as latin1 with trailing NULs dropped (bytes after an inner NUL kept, so encode
   * restores them). `commentText` gives what iptables prints.
   */
  readonly comment: string;
}

export const comment: Extension<CommentMatch> = {
  kind: 'match',
  name: 'comment',
  revisions: [0],
  dataSize: () => XT_MAX_COMMENT_LEN,
  userSize: () => XT_MAX_COMMENT_LEN,
  decode(data: Buffer): CommentMatch {
    return { comment: rawChars(payload(data, XT_MAX_COMMENT_LEN)) };
  },
  encode(v: CommentMatch): Buffer {
    const b = zeroed(XT_MAX_COMMENT_LEN);
    writeChars(b, 0, v.comment, XT_MAX_COMMENT_LEN);
    return b;
  },
  check(): void {},
  format(v: CommentMatch): string {
    return `--comment ${JSON.stringify(commentText(v))}`;
  },
  parse(options: readonly SaveOption[]) {
    const o = readOptions('match "comment"', options, { comment: { names: ['comment'] } });
    if (o.comment === undefined) throw new OptionError('match "comment": --comment is required');
    // The IR holds bytes as latin1; iptables copies the text's UTF-8 bytes and silently cuts
    // them to 255 (xtopt_parse_string's strncpy and final NUL).
    const raw = Buffer.from(o.comment.args[0] ?? '', 'utf8').toString('latin1');
    const value = { comment: raw.slice(0, XT_MAX_COMMENT_LEN - 1) };
    return { extension: comment, revision: 0, value };
  },
  engine: {
    always: true,
    recordSize: 0,
    record: () => Buffer.alloc(0),
    evaluate: () => [],
  },
};

/** The comment as C reads it (up to the first NUL), shown as UTF-8 like iptables prints it. */
export function commentText(v: CommentMatch): string {
  return Buffer.from(cString(v.comment), 'latin1').toString('utf8');
}
