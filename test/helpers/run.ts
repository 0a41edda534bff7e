// BPF_PROG_TEST_RUN of a netfilter program on a packet given from its IP header.
import { testRun } from '../../src/bpf/syscall.js';

/**
 * `hook` adds a struct nf_hook_state ctx (hook, pf = NFPROTO_IPV4); hooks other than LOCAL_OUT
 * take an Ethernet frame, because test-run calls eth_type_trans for them.
 */
export function runPacket(fd: number, packet: Buffer, hook?: number): number {
  if (hook === undefined) return testRun(fd, packet);
  const ctx = Buffer.alloc(48);
  ctx.writeUInt8(hook, 0);
  ctx.writeUInt8(2, 1);
  let data = packet;
  if (hook !== 3) {
    const eth = Buffer.alloc(14);
    eth.writeUInt16BE(0x0800, 12);
    data = Buffer.concat([eth, packet]);
  }
  return testRun(fd, data, ctx);
}
