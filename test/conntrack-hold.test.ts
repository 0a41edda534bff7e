// The helper runs nft and sysctl in a namespace to hold conntrack and turn its accounting on
// (src/bpf/conntrack.ts). A command that exits before reading its input closed the pipe under
// the helper's write: the EPIPE was an unhandled 'error' event, and the daemon died of it
// (exit 1, in CI after a connbytes table).
import { describe, expect, it } from 'vitest';
import { inNetns } from '../src/bpf/conntrack.js';

const self = { id: 'self', path: '/proc/self/ns/net' };

describe('inNetns', () => {
  it('a command that reads none of its input: its exit status decides, the write error is no crash', async () => {
    // More than a pipe holds, so the write surely meets the closed pipe.
    const input = 'x'.repeat(1 << 20);
    for (let i = 0; i < 5; i++)
      await expect(inNetns(self, ['true'], input)).resolves.toBeUndefined();
    await expect(inNetns(self, ['false'], input)).rejects.toThrow(/^false: /);
  });

  it('gives the command its input and rejects with its stderr', async () => {
    await expect(
      inNetns(self, ['sh', '-c', 'test "$(cat)" = hello'], 'hello'),
    ).resolves.toBeUndefined();
    await expect(inNetns(self, ['sh', '-c', 'echo nope >&2; exit 3'])).rejects.toThrow(
      'sh -c echo nope >&2; exit 3: nope',
    );
  });
});
