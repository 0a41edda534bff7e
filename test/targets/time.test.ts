// -m time against the kernel on the real clock: rules around the present instant (daytime
// windows that hold and that do not, through midnight and --contiguous, today's weekday and
// monthday and others, date bounds either side, UTC and --kerneltz) count the same datagrams
// through the kernel's iptables-legacy and our BPF; the per-rule counters must be equal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filterTable, SIDES, Twins, type Side } from '../helpers/twins.js';

const CLIENT = '10.84.0.1';
const SERVER = '10.84.0.2';
const twins = new Twins(`tm${process.pid % 100000}`, { clientAddr: CLIENT, serverAddr: SERVER });

beforeAll(async () => {
  await twins.start();
});

afterAll(() => {
  twins.close();
});

const TRAFFIC = `
const u=require('dgram').createSocket('udp4');u.on('error',()=>{});
const send=(i)=>{if(i===3){setTimeout(()=>u.close(),100);return;}
  u.send('x',9999,'${SERVER}',()=>setTimeout(()=>send(i+1),20));};
send(0);
`;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const two = (n: number): string => String(n).padStart(2, '0');
/** hh:mm:ss of `s` seconds after midnight (mod one day). */
const clock = (s: number): string => {
  const t = ((s % 86400) + 86400) % 86400;
  return `${two(Math.floor(t / 3600))}:${two(Math.floor(t / 60) % 60)}:${two(t % 60)}`;
};
const date = (s: number): string => new Date(s * 1000).toISOString().slice(0, 19);

/** Rules about `now` (UTC seconds), none of whose answers changes within a minute either way. */
function matches(now: number): string[] {
  const d = new Date(now * 1000);
  const sod = now % 86400;
  const wd = d.getUTCDay();
  const md = d.getUTCDate();
  return [
    `--timestart ${clock(sod - 3600)} --timestop ${clock(sod + 3600)}`,
    `--timestart ${clock(sod + 600)} --timestop ${clock(sod + 7200)}`,
    `--timestart ${clock(sod + 3600)} --timestop ${clock(sod - 3600)}`,
    `--timestart ${clock(sod - 600)} --timestop ${clock(sod - 1200)} --contiguous`,
    `--weekdays ${DAYS[wd]}`,
    `--weekdays ${DAYS[(wd + 1) % 7]},${DAYS[(wd + 3) % 7]}`,
    `! --weekdays ${DAYS[wd]}`,
    `--monthdays ${md}`,
    `--monthdays ${(md % 28) + 1}`,
    `! --monthdays ${md},${(md % 28) + 1}`,
    `--datestart ${date(now - 86400)}`,
    `--datestart ${date(now + 600)}`,
    `--datestop ${date(now - 600)}`,
    `--datestart ${date(now - 600)} --datestop ${date(now + 600)}`,
    `--timestart ${clock(sod - 3600)} --timestop ${clock(sod + 3600)} --kerneltz`,
    `--weekdays ${DAYS[wd]} --monthdays ${md} --kerneltz`,
    `--timestart ${clock(sod - 60)} --timestop ${clock(sod + 60)} --weekdays ${DAYS[wd]} --datestop ${date(now + 86400)}`,
  ];
}

function run(side: Side): string {
  twins.exec(side, 'c', [process.execPath, '-e', TRAFFIC]);
  return twins.counters(side);
}

describe('-m time on the wall clock', () => {
  it('counts as the kernel does, rule for rule', async () => {
    // Not within a minute of midnight UTC: the day's answers must not change mid-test.
    while ((Date.now() / 1000) % 86400 > 86340 || (Date.now() / 1000) % 86400 < 60) {
      await new Promise((r) => setTimeout(r, 1000));
    }
    const now = Math.floor(Date.now() / 1000);
    const rules = matches(now)
      .map((m) => `-A INPUT -p udp -m time ${m}`)
      .join('\n');
    for (const side of SIDES) twins.restore(side, filterTable(rules));
    const kernel = run('kernel');
    const ours = run('bpf');
    expect(ours).toEqual(kernel);
    const counted = kernel.split('\n').filter((l) => /^\[[1-9]/.test(l));
    expect(counted.length).toBeGreaterThan(5);
    expect(counted.length).toBeLessThan(matches(now).length);
  }, 120_000);
});
