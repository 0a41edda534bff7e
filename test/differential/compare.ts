// What counts as the same behaviour, and how a difference is reported.
import { describeFrame } from './packets.js';
import type { Frame, Observation } from './topology.js';

const WHERE: Readonly<Record<string, string>> = {
  s0: 'back at the sender on in0',
  s1: 'back at the sender on in1',
  f0: 'delivered to the far host on out0',
  f1: 'delivered to the far host on out1',
};

const group = (frames: readonly Frame[]): Map<string, string[]> => {
  const m = new Map<string, string[]>();
  for (const f of frames) m.set(f.at, [...(m.get(f.at) ?? []), f.bytes.toString('hex')]);
  return m;
};

/** The differences between the kernel's (`k`) and our (`b`) observation; empty when equal. */
export function compare(k: Observation, b: Observation): string[] {
  const out: string[] = [];
  if ((k.restore.status === 0) !== (b.restore.status === 0)) {
    out.push(`restore: kernel exit ${k.restore.status}, ours exit ${b.restore.status}`);
    return out;
  }
  // Both refused: the same answer, and no packets were sent.
  if (k.restore.status !== 0) return out;
  if (k.save !== b.save) {
    const kl = k.save.split('\n');
    const bl = b.save.split('\n');
    for (let i = 0; i < Math.max(kl.length, bl.length); i++)
      if (kl[i] !== bl[i]) out.push(`counters: kernel "${kl[i] ?? ''}" ours "${bl[i] ?? ''}"`);
  }
  // As sets, like frames: the lines of our REJECT replies come a little later.
  const kl = [...k.logs].sort();
  const bl = [...b.logs].sort();
  if (kl.join('\n') !== bl.join('\n')) {
    out.push(`LOG lines: kernel ${kl.length}, ours ${bl.length}`);
    for (let i = 0; i < Math.max(kl.length, bl.length); i++) {
      if (kl[i] !== bl[i]) out.push(`  kernel "${kl[i] ?? ''}"\n  ours   "${bl[i] ?? ''}"`);
    }
  }
  if (k.localSends !== b.localSends)
    out.push(`local sends (errno per packet): kernel ${k.localSends} ours ${b.localSends}`);
  const kg = group(k.frames);
  const bg = group(b.frames);
  for (const at of Object.keys(WHERE)) {
    // As sets: REJECT's replies come from the helper through a ring buffer, a little after the
    // kernel would send them, so a later packet's frame may overtake one. Which frames arrive
    // is the verdict; their order on a socket is timing.
    const kf = [...(kg.get(at) ?? [])].sort();
    const bf = [...(bg.get(at) ?? [])].sort();
    if (kf.join() === bf.join()) continue;
    out.push(`${WHERE[at]}: kernel ${kf.length} frames, ours ${bf.length}`);
    const len = Math.max(kf.length, bf.length);
    for (let i = 0; i < len; i++) {
      if (kf[i] === bf[i]) continue;
      const show = (h: string | undefined): string =>
        h === undefined ? '(none)' : describeFrame(Buffer.from(h, 'hex'));
      out.push(`  #${i}: kernel ${show(kf[i])} | ours ${show(bf[i])}`);
    }
  }
  return out;
}

/** Both sides' view in full, for a minimal failing case. */
export function render(label: string, o: Observation): string {
  const frames = o.frames.map((f) => `  ${WHERE[f.at] ?? f.at}: ${describeFrame(f.bytes)}`);
  return [
    `--- ${label}: restore exit ${o.restore.status}${o.restore.status ? ` ${o.restore.out.trim()}` : ''}`,
    o.save.trim(),
    `local sends: ${o.localSends || '-'}`,
    ...o.logs.map((l) => `  log: ${l}`),
    ...frames,
  ].join('\n');
}
