// Sweeps over a namespace map done in the kernel: a small netfilter program whose `main` walks a
// map with bpf_for_each_map_elem and whose callback `sweep` drops what is stale, test-run by the
// helper when it is time. In the kernel the walk reads jiffies and kernel memory (conntrack
// entries) as the kernel's own collectors do, and deletes while packets keep using the map.
import { assemble, type Insn } from './asm/index.js';
import { funcInfoBtf } from './codegen/btf.js';
import { ATTACH_NETFILTER, PROG_TYPE_NETFILTER } from './codegen/nf.js';
import { btfLoad, close, progLoadVerified, testRun } from './syscall.js';

/** A dummy IPv4 header: a netfilter program's test-run needs a packet. */
const PACKET = Buffer.from([0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);

/**
 * Loads a sweep: `insns` with the label `main` (the program) and one label per for_each
 * callback (map, key, value, ctx) in `callbacks`, its maps resolved by name.
 */
export function loadSweep(
  name: string,
  insns: readonly Insn[],
  maps: ReadonlyMap<string, number>,
  callbacks: readonly string[] = ['sweep'],
): number {
  const code = assemble(insns, {
    maps: (n) => {
      const fd = maps.get(n);
      if (fd === undefined) throw new Error(`sweep ${name} references map "${n}" it was not given`);
      return fd;
    },
  });
  const funcs = [
    { name: `${name}_main`, label: 'main', params: ['ptr' as const] },
    ...callbacks.map((label) => ({
      name: `${name}_${label}`,
      label,
      params: ['ptr' as const, 'ptr' as const, 'ptr' as const, 'ptr' as const],
    })),
  ];
  const btf = funcInfoBtf(funcs.map((f) => ({ name: f.name, params: [...f.params] })));
  const btfFd = btfLoad(btf.blob);
  try {
    const info = Buffer.alloc(8 * funcs.length);
    funcs.forEach((f, i) => {
      info.writeUInt32LE(code.labels.get(f.label) as number, 8 * i);
      info.writeUInt32LE(btf.funcs.get(f.name) as number, 8 * i + 4);
    });
    return progLoadVerified({
      type: PROG_TYPE_NETFILTER,
      expectedAttachType: ATTACH_NETFILTER,
      name,
      insns: code.bytes,
      btf: { fd: btfFd, funcInfo: info },
    }).fd;
  } finally {
    close(btfFd);
  }
}

/** Runs a loaded sweep once. */
export function runSweep(fd: number): void {
  testRun(fd, PACKET);
}
