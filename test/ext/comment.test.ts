import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { comment, commentText } from '../../src/translate/ext/comment.js';
import { ctx, roundTrip } from './helpers.js';

describe('comment match', () => {
  it('decodes and encodes a hand-built payload byte for byte', () => {
    const b = Buffer.alloc(256);
    b.write('allow ssh', 0, 'latin1');
    expect(comment.decode(b, 0)).toEqual({ comment: 'allow ssh' });
    expect(comment.encode({ comment: 'allow ssh' }, 0)).toEqual(b);
    expect(comment.dataSize(0)).toBe(256);
  });

  it('keeps bytes after an inner NUL so encode restores them, but shows only the C string', () => {
    const b = Buffer.alloc(256);
    b.write('a\0junk', 0, 'latin1');
    const v = comment.decode(b, 0);
    expect(comment.encode(v, 0)).toEqual(b);
    expect(commentText(v)).toBe('a');
  });

  it('shows UTF-8 comments as iptables prints them', () => {
    const b = Buffer.alloc(256);
    b.write('café', 0, 'utf8');
    const v = comment.decode(b, 0);
    expect(commentText(v)).toBe('café');
    expect(comment.encode(v, 0)).toEqual(b);
  });

  roundTrip(
    comment,
    fc
      .uint8Array({ maxLength: 256 })
      .map((a) => ({ comment: Buffer.from(a).toString('latin1').replace(/\0+$/, '') })),
  );

  it('accepts anything (no checkentry)', () => {
    expect(() => comment.check({ comment: 'x'.repeat(256) }, 0, ctx())).not.toThrow();
  });

  it('formats as iptables-save would', () => {
    expect(comment.format({ comment: 'allow ssh' }, 0)).toBe('--comment "allow ssh"');
  });
});
