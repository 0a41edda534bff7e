// Debian's ufw through the helper: `ufw --force enable`, `ufw limit 22/tcp`, `ufw allow 80/tcp`
// (IPv4) in two servers, one whose /usr/sbin/iptables is the kernel's iptables-legacy and one
// whose is ours (clients.ts: a throwaway alternatives directory, never the machine's). The
// saved rules must be the kernel's, and the same connections must get the same verdicts: 80
// open, 23 dropped by the default policy, and ufw's limit cutting 22 once a source opened six
// connections within 30 s. ufw's rules need addrtype, recent, limit, conntrack, LOG and REJECT.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Alternatives, rulesOnly, ufwRoot } from '../helpers/clients.js';
import { SIDES, Twins, type Side } from '../helpers/twins.js';

const CLIENT = '10.85.0.1';
const SERVER = '10.85.0.2';
const twins = new Twins(`uf${process.pid % 100000}`, { clientAddr: CLIENT, serverAddr: SERVER });
const alt = new Alternatives(twins);

function ufw(side: Side, ...args: string[]): string {
  const root = join(twins.dir, `ufw-${side}`);
  return alt.run(side, ['ufw', `--rootdir=${root}`, `--datadir=${root}`, ...args]);
}

beforeAll(async () => {
  await twins.start(['--log-file', join(twins.dir, 'log')]);
  const serve = `for(const p of [22,80,23])require('net').createServer(c=>c.on('error',()=>{})).listen(p,'${SERVER}');setTimeout(()=>process.stdout.write('ready'),100)`;
  for (const side of SIDES) ufwRoot(join(twins.dir, `ufw-${side}`));
  await twins.serve(serve);
});

afterAll(() => twins.close());

/** Connects to each port in turn from the client; per connection "ok", "refused" or "timeout". */
function connect(side: Side, ports: readonly number[]): string[] {
  const script = `
const net=require('net');const out=[];
const one=(p)=>new Promise(r=>{const s=net.connect({port:p,host:'${SERVER}'});const t=setTimeout(()=>{s.destroy();r('timeout')},700);
s.on('connect',()=>{clearTimeout(t);s.destroy();r('ok')});s.on('error',e=>{clearTimeout(t);r(e.code==='ECONNREFUSED'?'refused':e.code)});});
(async()=>{for(const p of ${JSON.stringify(ports)})out.push(await one(p));process.stdout.write(JSON.stringify(out));})();`;
  return JSON.parse(twins.exec(side, 'c', [process.execPath, '-e', script])) as string[];
}

describe('ufw through the helper', () => {
  it("gives the kernel's iptables-legacy-save and the same verdicts, limit included", () => {
    const saves = {} as Record<Side, string>;
    const verdicts = {} as Record<Side, string[]>;
    for (const side of SIDES) {
      expect(ufw(side, '--force', 'enable')).toContain('Firewall is active');
      expect(ufw(side, 'limit', '22/tcp')).toContain('Rule added');
      expect(ufw(side, 'allow', '80/tcp')).toContain('Rule added');
      saves[side] = rulesOnly(alt.run(side, ['iptables-save']));
      verdicts[side] = connect(side, [80, 23, 22, 22, 22, 22, 22, 22, 22, 80]);
    }
    expect(saves.bpf).toEqual(saves.kernel);
    expect(saves.kernel).toContain('-m recent --update --seconds 30 --hitcount 6');
    expect(saves.kernel).toContain('-m addrtype --dst-type BROADCAST');
    expect(verdicts.bpf).toEqual(verdicts.kernel);
    // 80 open, 23 dropped; 22 open for five connections, then its sixth and seventh within
    // 30 s (the seventh connection of the run) rejected by ufw-user-limit; 80 still open.
    expect(verdicts.kernel).toEqual([
      'ok',
      'timeout',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'refused',
      'refused',
      'ok',
    ]);
  });
});
