// The save-text parser against iptables-legacy-restore: the same text goes through our parser and
// through the stock iptables into a real kernel (KernelTables); the entry blobs must be equal
// byte for byte (counters zeroed: restore without -c drops them). Text iptables refuses must be
// refused here too, with the line and the option named.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import type { Table } from '../src/translate/ir.js';
import { entryCount, ZERO_COUNTERS } from '../src/translate/ir.js';
import { parseSave, SaveError } from '../src/translate/save.js';
import { tableToBlob } from '../src/translate/table.js';
import { KernelTables } from './helpers/kernel-table.js';

let kt: KernelTables;

beforeAll(() => {
  kt = new KernelTables('xsave');
});

afterAll(() => {
  kt.close();
});

function bytes(t: Table): string {
  const zeros = Array.from({ length: entryCount(t) }, () => ZERO_COUNTERS);
  return tableToBlob(t, zeros).entries.toString('hex');
}

function ours(text: string): Table {
  const [saved] = parseSave(text).tables;
  if (saved === undefined) throw new Error('no table');
  return saved.table;
}

/** Ours and the kernel's blobs for `text`. */
function both(text: string): { ours: string; kernel: string } {
  return { ours: bytes(ours(text)), kernel: bytes(kt.table(text)) };
}

/** iptables-legacy-restore's verdict on `text` in the throwaway netns (true = accepted). */
function iptablesAccepts(text: string): boolean {
  const r = spawnSync('ip', ['netns', 'exec', kt.ns, 'iptables-legacy-restore'], { input: text });
  return r.status === 0;
}

const HEAD = `*filter
:INPUT DROP [10:2000]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:alpha - [0:0]
:Zeta - [0:0]
:web-in - [0:0]
`;

/** Every extension and option, in the spellings iptables-save prints and some it does not. */
const EVERY_OPTION = `${HEAD}# comment line

[5:300] -A INPUT -i lo -j ACCEPT
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m state ! --state INVALID,UNTRACKED
-A INPUT -m conntrack --ctstate NEW,SNAT,DNAT ! --ctproto tcp --ctorigsrc 10.1.2.3/8 ! --ctorigdst 1.2.3.4 --ctreplsrc 5.6.7.8/255.255.0.0 --ctrepldst 9.9.9.9/32 --ctstatus EXPECTED,SEEN_REPLY,ASSURED,CONFIRMED ! --ctexpire 5:100 --ctorigsrcport 1 --ctorigdstport 5:7 ! --ctreplsrcport 8:9 --ctrepldstport :100 --ctdir REPLY -j ACCEPT
-A INPUT -m conntrack --ctstatus NONE --ctexpire 7 --ctdir original
-A INPUT -s 10.1.2.3/8 ! -d 192.168.0.0/255.255.0.0 -i eth+ -p tcp -m tcp --sport 1024: ! --dport 22 -j alpha
-A INPUT -p tcp -m tcp --syn -m comment --comment "new tcp: \\"quoted\\" ünïcode" -j web-in
-A INPUT -p tcp ! --syn --tcp-option 8 -j DROP
-A INPUT -p tcp -m tcp ! --tcp-flags FIN,SYN,RST,PSH,ACK,URG ALL ! --tcp-option 2 -j DROP
-A INPUT -p tcp --tcp-flags ALL NONE --source-port :1023 --destination-port 0x50 -j DROP
-A INPUT -p udp -m udp ! --sport 1:1000 --dport 53 -j ACCEPT
-A INPUT -p udp --dport domain -j ACCEPT
-A INPUT -p icmp -m icmp --icmp-type echo-request -j ACCEPT
-A INPUT -p icmp -m icmp ! --icmp-type 3/4 -j ACCEPT
-A INPUT -p 1 --icmp-type any -j ACCEPT
-A INPUT -p ICMP --icmp-type port-unreachable -j ACCEPT
-A INPUT -p icmp --icmp-type 11 -j ACCEPT
-A INPUT -p tcp -m multiport --dports 22,80,1000:2000,ssh -j ACCEPT
-A INPUT -p udp -m multiport ! --sports 1,2,3 -j ACCEPT
-A INPUT -p tcp -m multiport --ports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 -j ACCEPT
-A INPUT -m mark --mark 0x10/0xff -j ACCEPT
-A INPUT -m mark ! --mark 5 -j ACCEPT
-A INPUT -m iprange --src-range 10.0.0.1-10.0.0.9 ! --dst-range 1.1.1.1 -j ACCEPT
-A INPUT -m iprange ! --src-range 10.0.0.1-10.0.0.9 -j ACCEPT
-A INPUT -m length --length 100:200 -j DROP
-A INPUT -m length ! --length 64 -j DROP
-A INPUT -m length --length :64 -m length --length 1000: -j DROP
-A INPUT -m ttl --ttl-eq 5 -j DROP
-A INPUT -m ttl ! --ttl-eq 5 -j DROP
-A INPUT -m ttl --ttl-gt 100 -j DROP
-A INPUT -m ttl --ttl-lt 2 -j DROP
-A INPUT -m limit -j ACCEPT
-A INPUT -m limit --limit 10/min --limit-burst 7 -j ACCEPT
-A INPUT -m limit --limit 2/s -j ACCEPT
-A INPUT -m limit --limit 1/day --limit-burst 1 -m limit --limit 1/hour --limit-burst 4 -j ACCEPT
-A INPUT -m limit --limit 7/sec --limit-burst 10000 -j ACCEPT
-A INPUT -m limit --limit 5 -j ACCEPT
-A INPUT -m limit --limit 3/hour -j ACCEPT
-A INPUT -m tos --tos 0x10 -j ACCEPT
-A INPUT -m tos ! --tos minimize-cost
-A INPUT -m tos --tos 8/0x0c -m tos --tos Normal-Service
-A INPUT -m dscp --dscp 0x0a
-A INPUT -m dscp ! --dscp-class EF -m dscp --dscp-class cs3
-A INPUT -m ecn --ecn-ip-ect 2
-A INPUT -p tcp -m ecn ! --ecn-tcp-ece --ecn-tcp-cwr -j DROP
-A INPUT -p tcp -m tcpmss ! --mss 100: -m tcpmss --mss :1460 -m tcpmss --mss 536
-A INPUT -p esp -m esp ! --espspi 5:7
-A INPUT -p esp --espspi 9 -j DROP
-A INPUT -p esp -m esp
-A INPUT -p ah -m ah --ahspi 1
-A INPUT -p 51 --ahspi 2:
-A INPUT -p ipcomp -m ipcomp --compres
-A INPUT -p ipcomp --ipcompspi 3 --compres
-A INPUT -m statistic --mode random --probability 0.5
-A INPUT -m statistic --mode random ! --probability 0.000244140625 -j DROP
-A INPUT -m statistic --mode nth ! --every 3 --packet 1
-A INPUT -m statistic --mode nth --every 1 --packet 0
-A INPUT -m quota --quota 1000 -m quota ! --quota 18446744073709551615
-A INPUT -m time
-A INPUT -m time --timestart 8:00 --timestop 17:30:05 --weekdays Mon,Sa ! --monthdays 1,,31
-A INPUT -m time --datestart 2020-02-30T10 --datestop 2038-12-31 --utc -m time --kerneltz
-A INPUT -m time --timestart 22:00 --timestop 1:00 --contiguous ! --weekdays 1,9 --localtz
-A INPUT -m time --datestart 2020- --datestop 2038-01-19T03:14:07 --weekdays 33 --monthdays 123
-A INPUT -m connmark --mark 0x10/0xff -m connmark ! --mark 5
-A INPUT -m connbytes --connbytes 10:100 --connbytes-dir both --connbytes-mode bytes
-A INPUT -m connbytes ! --connbytes 10: --connbytes-dir reply --connbytes-mode avgpkt
-A INPUT -m connbytes ! --connbytes 5:5 --connbytes-mode packets --connbytes-dir original
-A INPUT -m connbytes --connbytes :7 --connbytes-dir original --connbytes-mode packets
-A INPUT -m helper --helper ftp -m helper ! --helper "a.b\\"c"
-A INPUT -m helper --helper abcdefghijklmnopqrstuvwxyz0123456789
-A INPUT -m realm --realm 5/0xff -m realm ! --realm cosmos -m realm --realm 0x10
-A INPUT -m devgroup ! --src-group 0x10/0xf0 -m devgroup --src-group default
-A OUTPUT -m devgroup --dst-group 3 -j ACCEPT
-A FORWARD -m devgroup --src-group 1 ! --dst-group 2/3
-A INPUT -m cpu ! --cpu 1 -m cpu --cpu 0
-A INPUT -p dccp -m dccp --dport :5 ! --dccp-types request,DATA,invalid --dccp-option 5
-A INPUT -p dccp -m dccp ! --sport 30:20 --destination-port 70000 ! --dccp-option 255
-A INPUT -p dccp --dccp-types ,,ACK,, --source-port http: -j DROP
-A INPUT -p 33 --dport 010
-A INPUT -m string --algo bm --string "GET /" -j DROP
-A INPUT -m string --algo kmp ! --string "a\\"b\\\\c" --from 10 --to 100 --icase
-A INPUT -m string --algo bm --hex-string "a\\\\|b|0d 0a|c" -m string --algo bm --hex-string "|41||42|"
-A INPUT -m string --algo bm --string "ab\\\\"
-A INPUT -m u32 --u32 "0>>22&0x3C@12>>26&0x3C@0=0x45" -j DROP
-A INPUT -m u32 ! --u32 " 6 & 0xFF = 1 , 17:0x20 && 0x0=0:0xffffffff"
-A INPUT -m u32 --u32 "1=1&&2=2&&3=3&&4=4&&5=5&&6=6&&7=7&&8=8&&9=9&&10=10" -m u32 --u32 "1&1&1&1&1&1&1&1&1&1=1,2,3,4,5,6,7,8,9,10"
-A INPUT -m addrtype --src-type LOCAL,b ! --dst-type uni,Multi --limit-iface-in -j ACCEPT
-A INPUT -m addrtype ! --src-type UNSPEC,UNICAST,LOCAL,BROADCAST,ANYCAST,MULTICAST,BLACKHOLE,UNREACHABLE,PROHIBIT,THROW,NAT,XRESOLVE
-A OUTPUT -m addrtype --dst-type x,bl,u --limit-iface-out -j ACCEPT
-A INPUT -p tcp --dport 22 -m recent --set --name ssh --rsource
-A INPUT -p tcp --dport 22 -m recent ! --update --seconds 60 --hitcount 4 --rttl --name ssh --rdest -j DROP
-A INPUT -m recent --rcheck --seconds 0x10 --reap --mask 255.255.255.0 --rdest --rsource
-A INPUT -m recent --remove --name "${'é'.repeat(120)}"
-A INPUT -m recent ! --rcheck --name "a b" -m recent --set --name DEFAULT
-A INPUT -m mac --mac-source 00:1B:2c:3d:4e:5F -j ACCEPT
-A FORWARD -m mac ! --mac-source a:b::d:e:f -j DROP
-A OUTPUT -m owner --uid-owner 0 -j ACCEPT
-A OUTPUT -m owner ! --uid-owner 1000-1999 --gid-owner 0x10:020 --suppl-groups ! --socket-exists -j DROP
-A OUTPUT -m owner --socket-exists -m owner ! --gid-owner 4294967294
-A INPUT -p tcp --dport 22 -m hashlimit --hashlimit-upto 5/sec --hashlimit-name a1 -j ACCEPT
-A INPUT -p tcp --syn --dport 80 -m connlimit --connlimit-above 20 --connlimit-mask 24 -j REJECT --reject-with tcp-reset
-A INPUT -m connlimit ! --connlimit-upto 0x10 --connlimit-daddr --connlimit-mask 255.0.255.0
-A INPUT -m connlimit ! --connlimit-above 4294967295 --connlimit-saddr --connlimit-mask 0
-A INPUT -m pkttype --pkt-type broadcast -j DROP
-A INPUT -m pkttype ! --pkt-type UNICAST -m pkttype --pkt-type mcast -j DROP
-A FORWARD -m pkttype --pkt-type otherhost
-A FORWARD -m physdev --physdev-in eth+ ! --physdev-out veth0 --physdev-is-in ! --physdev-is-out --physdev-is-bridged -j ACCEPT
-A INPUT -m physdev --physdev-in "" -m physdev ! --physdev-is-bridged
-A OUTPUT -m physdev --physdev-out br0 --physdev-is-bridged
-A INPUT -p sctp --dport 80 -j ACCEPT
-A INPUT -p sctp -m sctp ! --sport 1:2 --chunk-types any DATA:Be-,INIT,I_DATA:I,ABORT:t
-A INPUT -p sctp --chunk-types only all -m comment --comment x ! --destination-port :99
-A INPUT -p sctp ! --chunk-types ALL none
-A INPUT -p sctp ! --dport 22 -m sctp --chunk-types All data:iubeIUBE,,shutdown_complete:T,Asconf,pad,re_config,i_forward_tsn,forward_tsn,asconf_ack
-A INPUT -p 132 --chunk-types any DATA:I,INIT,ABORT:T,SHUTDOWN_COMPLETE:t,DATA:u
-A INPUT -m policy --dir in --pol ipsec -j ACCEPT
-A INPUT -m policy --pol none --dir in --reqid 7
-A OUTPUT -m policy --dir out --pol ipsec --strict --reqid 5 ! --spi 0x1234 --proto esp --mode tunnel --tunnel-src 10.0.0.1 ! --tunnel-dst 10.1.0.0/16 --next ! --proto ah --next --mode transport --next ! --mode transport --tunnel-src 1.2.3.4/255.0.255.0
-A FORWARD -m policy --dir in --proto ipcomp ! --reqid 0 --tunnel-dst 5.5.5.5/32 --mode tunnel -m policy --dir out --pol none
-A INPUT -m hashlimit ! --hashlimit-upto 10/minute --hashlimit-burst 20 --hashlimit-mode srcip,dstport --hashlimit-name a2 --hashlimit-htable-size 100 --hashlimit-htable-max 200 --hashlimit-htable-gcinterval 500 --hashlimit-htable-expire 7000 --hashlimit-srcmask 24 --hashlimit-dstmask 255.255.0.0
-A INPUT -m hashlimit --hashlimit-above 1kb/s --hashlimit-name a3 -j DROP
-A INPUT -m hashlimit ! --hashlimit-above 2mb/s --hashlimit-burst 10m --hashlimit-name a4 --hashlimit-mode dstip|srcport
-A INPUT -m hashlimit --hashlimit-above 100b/s --hashlimit-burst 1000 --hashlimit-name a5 --hashlimit-htable-expire 1
-A INPUT -m hashlimit --hashlimit 3/h --hashlimit-name a6 --hashlimit-rate-match --hashlimit-htable-size 2000000 --hashlimit-htable-max 0x100001
-A INPUT -m hashlimit --hashlimit-upto 7/day --hashlimit-name a7 --hashlimit-rate-match --hashlimit-rate-interval 4294967297
-A INPUT -m hashlimit --hashlimit-upto 5kb/s --hashlimit-name a8 --hashlimit-rate-match --hashlimit-burst 1000k
-A INPUT -m hashlimit --hashlimit-upto 1000000/s --hashlimit-name a9 --hashlimit-burst 1000000 --hashlimit-mode ,
-A INPUT -m hashlimit --hashlimit-upto 5abc/s --hashlimit-name "${'x'.repeat(300)}" --hashlimit-burst 2xyz --hashlimit-srcmask 0 --hashlimit-dstmask 0.0.0.0
-A INPUT -f -j DROP
-A INPUT ! -f -p 47 -j DROP
-A INPUT -j LOG --log-prefix "in: " --log-level 6 --log-uid --log-tcp-options
-A INPUT -j LOG --log-level debug --log-tcp-sequence --log-ip-options --log-macdecode
-A INPUT -j LOG
-A INPUT -p tcp -j REJECT --reject-with tcp-reset
-A INPUT -j REJECT
-A INPUT -j REJECT --reject-with icmp-host-prohibited
-A INPUT -j REJECT --reject-with admin-prohib
-A INPUT -m comment --comment x -p tcp --dport 5
-A INPUT -p tcp -m state --state NEW --dport 22 -m comment --comment "after" -j ACCEPT
-A INPUT -p udp -m comment --comment c --sport 5 -m mark --mark 3 -j LOG --log-level 3 --dport 7
-A INPUT -p tcp -m tcp --sport 1 -m mark --mark 1 --dport 2 -j DROP
-A INPUT -p udp -m comment --comment c -j LOG --log-level 3 --dport 7 -m mark --mark 3 --sport 5
-A INPUT -p icmp -m length --length 5 --icmp-type 8 -m ttl --ttl-eq 3 -j DROP
-A INPUT
-A INPUT -g Zeta
-A FORWARD ! -i lo -o eth0 -p udp -j ACCEPT
-A FORWARD -i + -o veth+ -p all -j DROP
-A FORWARD ! -p tcp -j QUEUE
-A FORWARD -s 1.1.1.1,2.2.2.9/24,1.1.1.1 -d 3.3.3.3,4.4.4.4 -j ACCEPT
-A FORWARD -s 5.5.5.5/8,6.6.6.6 ! -i eth9
-A FORWARD -d 7.7.7.7,8.8.8.8
-A OUTPUT -o eth1 -d 8.8.8.8 -j RETURN
-A alpha -j RETURN
-A alpha -m comment --comment "dummy"
-A alpha -m comment --comment "${'c'.repeat(300)}" -j LOG --log-prefix "${'p'.repeat(40)}"
-A Zeta -i eth0 -o eth1 -j DROP
-A web-in -p tcp -m tcp --dport 443 -j alpha
-N extra
-P FORWARD DROP
-A extra -j ACCEPT
COMMIT
`;

describe('save text → blob, against iptables-legacy-restore', () => {
  it('every extension and option gives the kernel blob byte for byte', () => {
    const r = both(EVERY_OPTION);
    expect(r.ours).toBe(r.kernel);
  });

  it('takes [pkts:bytes] prefixes and zeroes them, as SET_REPLACE does', () => {
    const t = ours(EVERY_OPTION);
    const input = t.chains[0];
    expect(input?.kind === 'builtin' && input.policyCounters).toEqual(ZERO_COUNTERS);
    expect(input?.rules[0]?.counters).toEqual(ZERO_COUNTERS);
    expect(() => parseSave('*filter\n[1:x] -A INPUT\nCOMMIT\n')).toThrow(/line 2: bad counters/);
  });

  it('orders user chains as libiptc does (by name) and resolves jumps to them', () => {
    const t = ours(EVERY_OPTION);
    expect(t.chains.map((c) => c.name)).toEqual([
      'INPUT',
      'FORWARD',
      'OUTPUT',
      'Zeta',
      'alpha',
      'extra',
      'web-in',
    ]);
  });

  // Generated rule sets: each rule a random combination of generic options and extensions.
  const addr = fc
    .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }))
    .map(([a, l]) => `${[24, 16, 8, 0].map((s) => (a >>> s) & 0xff).join('.')}/${l}`);
  // Mostly one address; a list expands into one rule per address pair.
  const addrs = fc
    .array(addr, { minLength: 1, maxLength: 3 })
    .chain((a) => fc.constantFrom(a.slice(0, 1), a))
    .map((a) => a.join(','));
  const neg = fc.constantFrom('', '! ');
  const port = fc.integer({ min: 0, max: 65535 });
  const range = fc.oneof(
    port.map(String),
    fc.tuple(port, port).map(([a, b]) => `${Math.min(a, b)}:${Math.max(a, b)}`),
    port.map((p) => `:${p}`),
    port.map((p) => `${p}:`),
  );
  const opt = (a: fc.Arbitrary<string>): fc.Arbitrary<string> => fc.option(a, { nil: '' });
  const iface = fc
    .tuple(fc.constantFrom('eth', 'veth', 'lo', 'br-x'), fc.constantFrom('', '0', '+', '12'))
    .map(([a, b]) => a + b);
  const protoPart = fc.constantFrom('tcp', 'udp', 'icmp', 'sctp', '', '! tcp', '47', 'all');
  const flagNames = fc
    .subarray(['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG'], { minLength: 1 })
    .map((f) => f.join(','));
  // The -p match's options with `-m NAME`, or without it (iptables then loads it implicitly).
  const protoMatch = (name: string, opts: fc.Arbitrary<string>): fc.Arbitrary<string> =>
    fc.tuple(fc.boolean(), opts).map(([m, o]) => (m ? `-m ${name} ${o}` : o));
  const tcpOpts = fc
    .tuple(
      opt(fc.tuple(neg, range).map(([n, r]) => `${n}--sport ${r}`)),
      opt(fc.tuple(neg, range).map(([n, r]) => `${n}--dport ${r}`)),
      opt(
        fc.oneof(
          neg.map((n) => `${n}--syn`),
          fc.tuple(neg, flagNames, flagNames).map(([n, m, c]) => `${n}--tcp-flags ${m} ${c}`),
        ),
      ),
      opt(fc.tuple(neg, fc.integer({ min: 1, max: 255 })).map(([n, o]) => `${n}--tcp-option ${o}`)),
    )
    .map((p) => p.join(' '));
  const udpOpts = fc
    .tuple(
      opt(fc.tuple(neg, range).map(([n, r]) => `${n}--sport ${r}`)),
      opt(fc.tuple(neg, range).map(([n, r]) => `${n}--dport ${r}`)),
    )
    .map((p) => p.join(' '));
  const icmpOpts = fc
    .tuple(
      neg,
      fc.oneof(
        fc.constantFrom('any', 'echo-request', 'host-unreachable', 'ttl-zero-during-transit'),
        fc.integer({ min: 0, max: 255 }).map(String),
        fc
          .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }))
          .map(([t, c]) => `${t}/${c}`),
      ),
    )
    .map(([n, t]) => `${n}--icmp-type ${t}`);
  const sctpChunk = fc
    .tuple(
      fc.constantFrom('DATA', 'init', 'ABORT', 'SHUTDOWN_COMPLETE', 'I_DATA', 'asconf', 'PAD'),
      fc.constantFrom('', '', ':T', ':t', ':IuBe', ':-'),
    )
    .map(([c, f]) => (f === '' || /DATA|ABORT|SHUTDOWN_COMPLETE/i.test(c) ? c + f : c));
  const sctpOpts = fc
    .tuple(
      opt(fc.tuple(neg, range).map(([n, r]) => `${n}--sport ${r}`)),
      opt(fc.tuple(neg, range).map(([n, r]) => `${n}--dport ${r}`)),
      opt(
        fc
          .tuple(
            neg,
            fc.constantFrom('any', 'ALL', 'only'),
            fc.oneof(
              fc.constantFrom('ALL', 'none'),
              fc.array(sctpChunk, { minLength: 1, maxLength: 5 }).map((c) => c.join(',')),
            ),
          )
          .map(([n, t, c]) => `${n}--chunk-types ${t} ${c}`),
      ),
    )
    .map((p) => p.join(' '));
  const multiportOpts = fc
    .tuple(
      neg,
      fc.constantFrom('--sports', '--dports', '--ports'),
      fc.array(
        fc.oneof(
          port.map(String),
          fc.tuple(port, port).filter(([a, b]) => a < b),
        ),
        {
          minLength: 1,
          maxLength: 7,
        },
      ),
    )
    .map(
      ([n, o, items]) =>
        `-m multiport ${n}${o} ${items.map((i) => (Array.isArray(i) ? i.join(':') : i)).join(',')}`,
    );
  const stateNames = ['INVALID', 'ESTABLISHED', 'NEW', 'RELATED', 'UNTRACKED'];
  const addrTypes = fc
    .subarray(['UNSPEC', 'unicast', 'LOCAL', 'b', 'Any', 'MULTICAST', 'BLACK', 'XRESOLVE'], {
      minLength: 1,
    })
    .map((t) => t.join(','));
  const generic = [
    fc
      .tuple(neg, fc.subarray(stateNames, { minLength: 1 }))
      .map(([n, s]) => `-m state ${n}--state ${s.join(',')}`),
    fc
      .tuple(
        opt(
          fc
            .tuple(neg, fc.subarray([...stateNames, 'SNAT', 'DNAT'], { minLength: 1 }))
            .map(([n, s]) => `${n}--ctstate ${s.join(',')}`),
        ),
        opt(fc.tuple(neg, addr).map(([n, a]) => `${n}--ctorigsrc ${a}`)),
        opt(fc.tuple(neg, range).map(([n, r]) => `${n}--ctrepldstport ${r}`)),
        opt(fc.constantFrom('--ctdir ORIGINAL', '--ctdir REPLY')),
        opt(
          fc
            .tuple(neg, fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1000 }))
            .map(([n, a, b]) => `${n}--ctexpire ${Math.min(a, b)}:${Math.max(a, b)}`),
        ),
      )
      .map((p) => `-m conntrack ${p.join(' ')}`),
    fc
      .tuple(
        neg,
        fc.integer({ min: 0, max: 0xffffffff }),
        opt(fc.integer({ min: 0, max: 0xffff }).map((k) => `/${k}`)),
      )
      .map(([n, m, k]) => `-m mark ${n}--mark 0x${m.toString(16)}${k}`),
    fc
      .string({ minLength: 1, maxLength: 40 })
      .filter((s) => !/["\\\n\r'\t\0]/.test(s) && s.trim() === s && s !== '')
      .map((s) => `-m comment --comment "${s}"`),
    fc
      .tuple(neg, addr, addr)
      .map(([n, a, b]) => `-m iprange ${n}--src-range ${a.split('/')[0]}-${b.split('/')[0]}`),
    fc
      .tuple(neg, fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
      .map(([n, a, b]) => `-m length ${n}--length ${Math.min(a, b)}:${Math.max(a, b)}`),
    fc
      .tuple(
        fc.constantFrom('--ttl-eq', '! --ttl-eq', '--ttl-lt', '--ttl-gt'),
        fc.integer({ min: 0, max: 255 }),
      )
      .map(([o, t]) => `-m ttl ${o} ${t}`),
    fc
      .tuple(
        fc.integer({ min: 1, max: 1000 }),
        fc.constantFrom('/second', '/minute', '/hour', '/day', '/s', '/m', '/h', '/d', ''),
        fc.integer({ min: 1, max: 10000 }),
      )
      .map(([r, u, b]) => `-m limit --limit ${r}${u} --limit-burst ${b}`),
    fc
      .tuple(
        neg,
        fc.oneof(
          fc.integer({ min: 0, max: 255 }).map(String),
          fc.constantFrom('Minimize-Delay', 'normal-service', '0x10/0x3f'),
        ),
      )
      .map(([n, t]) => `-m tos ${n}--tos ${t}`),
    fc
      .tuple(
        neg,
        fc.oneof(
          fc.integer({ min: 0, max: 63 }).map((d) => `--dscp ${d}`),
          fc.constantFrom('--dscp-class EF', '--dscp-class af21'),
        ),
      )
      .map(([n, d]) => `-m dscp ${n}${d}`),
    fc.tuple(neg, fc.integer({ min: 0, max: 3 })).map(([n, e]) => `-m ecn ${n}--ecn-ip-ect ${e}`),
    fc
      .tuple(
        neg,
        fc.integer({ min: 0, max: 0xffffffff }),
        opt(fc.integer({ min: 0, max: 0xffffffff }).map((k) => `/0x${k.toString(16)}`)),
      )
      .map(([n, m, k]) => `-m connmark ${n}--mark ${m}${k}`),
    fc.tuple(neg, fc.integer({ min: 0, max: 1023 })).map(([n, c]) => `-m cpu ${n}--cpu ${c}`),
    fc
      .tuple(neg, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }))
      .map(([n, q]) => `-m quota ${n}--quota ${q}`),
    fc
      .tuple(neg, fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 99 }))
      .map(([n, e, p]) => `-m statistic --mode nth ${n}--every ${e} --packet ${p % e}`),
    fc
      .tuple(neg, fc.integer({ min: 0, max: 1000000 }))
      .map(([n, p]) => `-m statistic --mode random ${n}--probability ${(p / 1000000).toFixed(6)}`),
    fc
      .tuple(
        fc.integer({ min: 0, max: 86399 }),
        fc.integer({ min: 0, max: 86399 }),
        fc.subarray(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'], { minLength: 1 }),
      )
      .map(
        ([a, b, d]) =>
          `-m time --timestart ${Math.floor(a / 3600)}:${Math.floor(a / 60) % 60}:${a % 60} --timestop ${Math.floor(b / 3600)}:${Math.floor(b / 60) % 60} --weekdays ${d.join(',')}`,
      ),
    fc
      .tuple(
        neg,
        fc.array(
          fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 0xffffffff })),
          { minLength: 1, maxLength: 3 },
        ),
      )
      .map(
        ([n, t]) =>
          `-m u32 ${n}--u32 "${t.map(([at, v]) => `${at}&0xff=${v & 0xff}:0xff`).join('&&')}"`,
      ),
    fc
      .tuple(neg, fc.stringMatching(/^[a-z][a-z0-9-]{0,19}$/))
      .map(([n, h]) => `-m helper ${n}--helper ${h}`),
    fc
      .tuple(
        opt(fc.tuple(neg, addrTypes).map(([n, t]) => `${n}--src-type ${t}`)),
        opt(fc.tuple(neg, addrTypes).map(([n, t]) => `${n}--dst-type ${t}`)),
        fc.constantFrom('', '', '--limit-iface-in', '--limit-iface-out'),
      )
      .map((p) => `-m addrtype ${p.join(' ')}`),
    fc
      .tuple(
        neg,
        fc.constantFrom('--set', '--rcheck', '--update', '--remove'),
        opt(fc.integer({ min: 1, max: 3600 }).map((n) => `--seconds ${n} --reap`)),
        opt(fc.integer({ min: 0, max: 70000 }).map((n) => `--hitcount ${n}`)),
        opt(fc.constant('--rttl')),
        opt(fc.constantFrom('--name a', '--name DEFAULT', '--name ssh-list')),
        opt(fc.constantFrom('--mask 255.255.255.0', '--mask 0.0.0.0')),
        opt(fc.constantFrom('--rsource', '--rdest', '--rdest --rsource')),
      )
      .map(([n, c, ...p]) => `-m recent ${n}${c} ${p.join(' ')}`),
    fc
      .tuple(neg, fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 }))
      .map(([n, b]) => `-m mac ${n}--mac-source ${b.map((x) => x.toString(16)).join(':')}`),
    fc
      .tuple(
        opt(fc.tuple(neg, range).map(([n, r]) => `${n}--uid-owner ${r.replace(/^:|:$/, '')}`)),
        opt(fc.tuple(neg, range).map(([n, r]) => `${n}--gid-owner ${r.replace(/^:|:$/, '')}`)),
        opt(neg.map((n) => `${n}--socket-exists`)),
      )
      .map(
        ([u, g, s]) =>
          `-m owner ${[u, g, g !== '' && u === '' ? '--suppl-groups' : '', s].join(' ')}`,
      ),
    fc
      .tuple(
        neg,
        fc.constantFrom('upto', 'above'),
        fc.oneof(
          fc
            .tuple(
              fc.integer({ min: 1, max: 2000 }),
              fc.constantFrom('/sec', '/minute', '/h', '/day', ''),
            )
            .map(([r, u]) => `${r}${u}`),
          fc
            .tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom('b/s', 'kb/s', 'mb/s'))
            .map(([r, u]) => `${r}${u}`),
        ),
        opt(
          fc.constantFrom('1', '20', '1000000', '100k', '3m').map((b) => `--hashlimit-burst ${b}`),
        ),
        opt(
          fc
            .subarray(['srcip', 'srcport', 'dstip', 'dstport'], { minLength: 1 })
            .map((m) => `--hashlimit-mode ${m.join(',')}`),
        ),
        opt(fc.integer({ min: 0, max: 33 }).map((m) => `--hashlimit-srcmask ${m}`)),
        opt(fc.constantFrom(0, 1, 100, 2000000).map((n) => `--hashlimit-htable-size ${n}`)),
        opt(fc.constantFrom(0, 1, 60000).map((n) => `--hashlimit-htable-expire ${n}`)),
        fc.boolean(),
        opt(fc.integer({ min: 1, max: 100 }).map((n) => `--hashlimit-rate-interval ${n}`)),
      )
      // A table's name and its rate-match setting go together: the kernel refuses a rule that
      // names an existing table (even one of the ruleset being replaced) with the other setting.
      .map(([n, dir, rate, burst, mode, mask, size, expire, rm, interval]) =>
        [
          `-m hashlimit ${n}--hashlimit-${dir} ${rate} --hashlimit-name ${rm ? 'rm' : 'pl'}`,
          burst,
          mode,
          mask,
          size,
          expire,
          rm ? '--hashlimit-rate-match' : '',
          interval,
        ].join(' '),
      ),
    fc
      .tuple(
        fc.constantFrom(
          '--connlimit-upto',
          '--connlimit-above',
          '! --connlimit-upto',
          '! --connlimit-above',
        ),
        fc.integer({ min: 0, max: 100 }),
        opt(fc.integer({ min: 0, max: 33 }).map((m) => `--connlimit-mask ${m}`)),
        fc.constantFrom('', '--connlimit-saddr', '--connlimit-daddr'),
      )
      .map(([o, n, m, s]) => `-m connlimit ${o} ${n} ${m} ${s}`),
    fc
      .tuple(neg, fc.constantFrom('unicast', 'BROADCAST', 'mcast', 'otherhost', 'host'))
      .map(([n, t]) => `-m pkttype ${n}--pkt-type ${t}`),
    fc
      .tuple(
        opt(fc.tuple(neg, iface).map(([n, i]) => `${n}--physdev-in ${i}`)),
        opt(fc.tuple(neg, iface).map(([n, i]) => `${n}--physdev-out ${i}`)),
        opt(neg.map((n) => `${n}--physdev-is-in`)),
        opt(neg.map((n) => `${n}--physdev-is-out`)),
        opt(neg.map((n) => `${n}--physdev-is-bridged`)),
      )
      .map((p) => `-m physdev ${p.join(' ')}`),
    fc
      .tuple(
        fc.constantFrom('--dir in', '--dir out'),
        fc.constantFrom('', '--pol ipsec', '--pol none'),
        fc.array(
          fc
            .tuple(
              opt(
                fc.tuple(neg, fc.integer({ min: 0, max: 9 })).map(([n, r]) => `${n}--reqid ${r}`),
              ),
              opt(
                fc
                  .tuple(neg, fc.constantFrom('esp', 'ah', 'ipcomp'))
                  .map(([n, p]) => `${n}--proto ${p}`),
              ),
              opt(
                fc
                  .tuple(
                    neg,
                    fc.constantFrom('tunnel', 'transport'),
                    opt(addr.map((a) => `--tunnel-dst ${a}`)),
                  )
                  .map(([n, m, t]) => `${n}--mode ${m} ${t}`),
              ),
            )
            .map((p) => p.join(' ')),
          { minLength: 1, maxLength: 3 },
        ),
      )
      .map(
        ([d, p, elems]) =>
          `-m policy ${d} ${p} ${elems.length > 1 ? '--strict ' : ''}${elems.join(' --next ')}`,
      ),
  ];
  const target = (proto: string, users: readonly string[]): fc.Arbitrary<string> =>
    fc.oneof(
      fc.constantFrom('-j ACCEPT', '-j DROP', '-j RETURN', '', '-j QUEUE'),
      // Jumps only to chains later in the list: no loops.
      ...(users.length > 0
        ? [
            fc.constantFrom(...users).map((u) => `-j ${u}`),
            fc.constantFrom(...users).map((u) => `-g ${u}`),
          ]
        : []),
      fc
        .tuple(
          opt(fc.stringMatching(/^[a-z: ]{1,20}$/).map((p) => `--log-prefix "${p}"`)),
          opt(fc.integer({ min: 0, max: 7 }).map((l) => `--log-level ${l}`)),
          opt(fc.constant('--log-uid')),
        )
        .map((p) => `-j LOG ${p.join(' ')}`),
      fc
        .constantFrom(
          'icmp-net-unreachable',
          'icmp-port-unreachable',
          'icmp-admin-prohibited',
          ...(proto === 'tcp' ? ['tcp-reset'] : []),
        )
        .map((w) => `-j REJECT --reject-with ${w}`),
    );
  const CHAINS = ['INPUT', 'FORWARD', 'OUTPUT', 'u1', 'u2'];
  const rule = fc.constantFrom(...CHAINS).chain((chain) => {
    const users = chain.startsWith('u')
      ? CHAINS.filter((c) => c > chain && c.startsWith('u'))
      : ['u1', 'u2'];
    return protoPart.chain((proto) =>
      fc
        .tuple(
          opt(fc.tuple(neg, addrs).map(([n, a]) => `${n}-s ${a}`)),
          opt(fc.tuple(neg, addrs).map(([n, a]) => `${n}-d ${a}`)),
          chain === 'OUTPUT'
            ? fc.constant('')
            : opt(fc.tuple(neg, iface).map(([n, i]) => `${n}-i ${i}`)),
          chain === 'INPUT'
            ? fc.constant('')
            : opt(fc.tuple(neg, iface).map(([n, i]) => `${n}-o ${i}`)),
          fc.constant(
            proto === '' ? '' : proto.startsWith('!') ? `! -p ${proto.slice(2)}` : `-p ${proto}`,
          ),
          proto === 'tcp' || proto === 'udp' || proto === 'icmp'
            ? opt(neg.map((n) => `${n}-f`))
            : fc.constant(''),
          proto === 'tcp'
            ? opt(fc.oneof(protoMatch('tcp', tcpOpts), multiportOpts))
            : proto === 'udp'
              ? opt(fc.oneof(protoMatch('udp', udpOpts), multiportOpts))
              : proto === 'icmp'
                ? opt(protoMatch('icmp', icmpOpts))
                : proto === 'sctp'
                  ? opt(fc.oneof(protoMatch('sctp', sctpOpts), multiportOpts))
                  : fc.constant(''),
          fc.array(fc.oneof(...generic), { maxLength: 2 }),
          fc.boolean(),
          target(proto, users),
        )
        // The -p match's options before or after the other matches.
        .map(([s, d, i, o, p, f, pm, gen, late, t]) =>
          [`-A ${chain}`, s, d, i, o, p, f, ...(late ? [...gen, pm] : [pm, ...gen]), t]
            .filter((x) => x !== '')
            .join(' '),
        ),
    );
  });

  it('generated rule sets give the kernel blob byte for byte', () => {
    fc.assert(
      fc.property(fc.array(rule, { minLength: 1, maxLength: 8 }), (rules) => {
        const text = `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:u1 - [0:0]\n:u2 - [0:0]\n${rules.join('\n')}\nCOMMIT\n`;
        // Both refuse (limit's avg × burst overflowing, ...) or both give the same bytes.
        if (!iptablesAccepts(text)) {
          expect(() => parseSave(text)).toThrow(SaveError);
          return;
        }
        const r = both(text);
        expect(r.ours).toBe(r.kernel);
      }),
      { numRuns: 60 },
    );
  });
});

describe('refusals, as iptables-legacy-restore refuses', () => {
  const table = (rule: string): string =>
    `*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:u - [0:0]\n${rule}\nCOMMIT\n`;
  const CASES: readonly (readonly [string, RegExp])[] = [
    [
      '-A INPUT -p tcp --dport 99999 -j ACCEPT',
      /line 6: match "tcp": --dport: invalid port\/service "99999"/,
    ],
    ['-A INPUT -p tcp --dport http2x -j ACCEPT', /--dport: invalid port\/service "http2x"/],
    ['-A INPUT -p tcp --dport 30:20 -j ACCEPT', /invalid port range "30:20"/],
    ['-A INPUT -p tcp --frobnicate 1 -j ACCEPT', /match "tcp": unknown option "--frobnicate"/],
    ['-A INPUT -p udp --syn -j ACCEPT', /match "udp": unknown option "--syn"/],
    ['-A INPUT -p udp -m mark --mark 1 --syn -j ACCEPT', /match "udp": unknown option "--syn"/],
    ['-A INPUT -m mark --mark 1 --dport 1 -j ACCEPT', /match "mark": unknown option "--dport"/],
    ['-A INPUT -j LOG --dport 1', /target "LOG": unknown option "--dport"/],
    ['-A INPUT --dport 22 -j ACCEPT', /unknown option "--dport"/],
    ['-A INPUT -p tcp --syn --tcp-flags SYN SYN', /only one of --syn and --tcp-flags/],
    ['-A INPUT -p tcp --tcp-flags SYN,BOGUS SYN', /unknown TCP flag "BOGUS"/],
    [
      '-A INPUT -p tcp -m multiport --dports 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16',
      /too many ports/,
    ],
    ['-A INPUT -m multiport --dports 22', /multiport" needs -p tcp/],
    ['-A INPUT -p icmp -m icmp', /--icmp-type is required/],
    ['-A INPUT -p icmp --icmp-type bogus', /unknown ICMP type "bogus"/],
    ['-A INPUT -m mark', /--mark is required/],
    ['-A INPUT -m state --state NEW,BOGUS', /--state: unknown value "BOGUS"/],
    ['-A INPUT -m conntrack --ctdir SIDEWAYS', /--ctdir: "SIDEWAYS"/],
    ['-A INPUT -m ttl --ttl-eq 1 --ttl-gt 2', /exactly one of --ttl-eq/],
    ['-A INPUT -m ttl ! --ttl-lt 3', /"--ttl-lt" cannot be inverted/],
    ['-A INPUT -m length --length 300:x', /"x" is not a number/],
    ['-A INPUT -m limit --limit 5/fortnight', /bad rate "5\/fortnight"/],
    ['-A INPUT -m limit --limit-burst 10001', /10001 is out of range 0-10000/],
    ['-A INPUT -m limit ! --limit 5/s', /"--limit" cannot be inverted/],
    ['-A INPUT -j LOG --log-prefix ""', /--log-prefix is empty/],
    ['-A INPUT -j LOG --log-level 8', /--log-level: 8 is out of range 0-7/],
    ['-A INPUT -j REJECT --reject-with tcp-reset', /tcp-reset needs -p tcp/],
    ['-A INPUT -j REJECT --reject-with icmp-echo-reply', /echo-reply is no longer supported/],
    ['-A INPUT -j REJECT --reject-with bogus', /unknown --reject-with "bogus"/],
    ['-A INPUT -m tos --tos 300', /symbolic name "300" is unknown/],
    ['-A INPUT -m tos --tos 5/0x100', /illegal value "5\/0x100"/],
    ['-A INPUT -m dscp --dscp 64', /64 is out of range 0-63/],
    ['-A INPUT -m dscp --dscp 1 --dscp-class EF', /cannot be used together/],
    ['-A INPUT -m dscp --dscp-class AF5', /invalid DSCP class "AF5"/],
    ['-A INPUT -m ecn', /some option is required/],
    ['-A INPUT -m ecn --ecn-tcp-cwr', /EINVAL: match "ecn": TCP bits need/],
    ['-A INPUT -p tcp -m tcpmss --mss 5:4', /invalid range/],
    ['-A INPUT -p tcp -m tcpmss', /--mss is required/],
    ['-A INPUT -m tcpmss --mss 5', /EINVAL: match "tcpmss" needs "-p 6"/],
    ['-A INPUT -p esp -m esp --espspi 1:2:3', /too many components/],
    ['-A INPUT -p ah --ahspi 4294967296', /out of range/],
    ['-A INPUT -p ipcomp -m ipcomp ! --compres', /cannot be inverted/],
    ['-A INPUT -m statistic --mode nth --every 3', /need each other/],
    ['-A INPUT -m statistic --mode random', /--probability must be specified/],
    ['-A INPUT -m statistic --mode often --probability 0.1', /bad mode "often"/],
    ['-A INPUT -m statistic --mode nth --every 2 --packet 2', /0 <= p <= n-1/],
    ['-A INPUT -m quota --quota 18446744073709551616', /out of range/],
    ['-A INPUT -m quota --quota 1x', /"1x" is not a number/],
    ['-A INPUT -m time --datestart 1970-01-00', /mktime/],
    ['-A INPUT -m time --datestart 2039', /invalid date "2039"/],
    ['-A INPUT -m time --timestart 24:00', /invalid time "24:00"/],
    ['-A INPUT -m time --weekdays tu', /tu is not a valid day/],
    ['-A INPUT -m time --weekdays 0', /does NOT begin with Sunday/],
    ['-A INPUT -m time --monthdays 32', /32 is not a valid day/],
    ['-A INPUT -m time --contiguous', /--contiguous only makes sense/],
    ['-A INPUT -m time --utc --kerneltz', /--utc cannot be used/],
    ['-A INPUT -m connmark --mark 1/x', /bad integer/],
    ['-A INPUT -m connmark', /--mark is required/],
    [
      '-A INPUT -m connbytes --connbytes 9:3 --connbytes-dir both --connbytes-mode bytes',
      /should be less/,
    ],
    ['-A INPUT -m connbytes --connbytes 1 --connbytes-dir both', /are required/],
    [
      '-A INPUT -m connbytes --connbytes 1 --connbytes-dir up --connbytes-mode bytes',
      /unknown --connbytes-dir "up"/,
    ],
    ['-A INPUT -m helper', /--helper is required/],
    ['-A INPUT -m realm --realm inr.ac', /could not map name "inr.ac"/],
    ['-A INPUT -m devgroup', /--src-group or --dst-group is required/],
    [
      '-A INPUT -m devgroup --dst-group 1',
      /EINVAL: match "devgroup": --dst-group used from a hook/,
    ],
    ['-A INPUT -m cpu ! --cpu -1', /"--cpu" takes 1 argument/],
    ['-A INPUT -p dccp --dport 0x50', /port "0x50" does not resolve/],
    ['-A INPUT -p dccp --dport 1:2:3', /too many components/],
    ['-A INPUT -p dccp --dccp-types SYN', /unknown DCCP type "SYN"/],
    ['-A INPUT -p dccp --dccp-option 0', /out of range/],
    ['-A INPUT -m dccp --dport 5', /EINVAL: match "dccp" needs "-p 33"/],
    ['-A INPUT -m string --string x', /--algo is required/],
    [
      '-A INPUT -m string --algo 0123456789abcdefghij --string x',
      /no textsearch algorithm "0123456789abcde"/,
    ],
    ['-A INPUT -m string --algo bm', /--string or --hex-string is required/],
    ['-A INPUT -m string --algo bm --hex-string "|4|"', /invalid hex block/],
    ['-A INPUT -m string --algo bm --string x --hex-string "|41|"', /cannot be used together/],
    [
      '-A INPUT -m string --algo xyz --string x',
      /ENOENT: match "string": no textsearch algorithm "xyz"/,
    ],
    [
      '-A INPUT -m string --algo bm --string x --from 9 --to 3',
      /EINVAL: match "string": --from 9 > --to 3/,
    ],
    [
      '-A INPUT -m u32 --u32 "1=1&&2=2&&3=3&&4=4&&5=5&&6=6&&7=7&&8=8&&9=9&&10=10&&11=11"',
      /too many "&&"s/,
    ],
    ['-A INPUT -m u32 --u32 "1&1&1&1&1&1&1&1&1&1&1=1"', /too many operators/],
    ['-A INPUT -m u32 --u32 "1=1,2,3,4,5,6,7,8,9,10,11"', /too many ","s/],
    ['-A INPUT -m u32 --u32 "1<2=3"', /a second '<' was expected/],
    ['-A INPUT -m u32 --u32 1', /abrupt end of input/],
    ['-A INPUT -m addrtype --limit-iface-in', /--src-type or --dst-type is required/],
    ['-A INPUT -m addrtype --src-type LOCALX', /bad type "LOCALX"/],
    ['-A INPUT -m addrtype --src-type LOCAL,', /bad type ""/],
    ['-A INPUT -m addrtype ! --limit-iface-in --src-type LOCAL', /cannot be inverted/],
    [
      '-A FORWARD -m addrtype --src-type LOCAL --limit-iface-in --limit-iface-out',
      /exclude each other/,
    ],
    ['-A INPUT -m addrtype --src-type LOCAL --limit-iface-out', /kernel's checks: EINVAL/],
    ['-A INPUT -m recent --name x', /exactly one of --set/],
    ['-A INPUT -m recent --set --update', /exactly one of --set/],
    ['-A INPUT -m recent --remove --rttl', /--rttl cannot be used/],
    ['-A INPUT -m recent --rcheck --reap', /--reap needs --seconds/],
    ['-A INPUT -m recent --rcheck --seconds 0', /0 is out of range/],
    ['-A INPUT -m recent --rcheck ! --rttl', /cannot be inverted/],
    ['-A INPUT -m recent --set --hitcount 2', /EINVAL: match "recent"/],
    ['-A INPUT -m recent --rcheck --hitcount 65536', /EINVAL: match "recent"/],
    ['-A INPUT -m recent --rcheck --name ..', /EINVAL: match "recent"/],
    ['-A INPUT -m mac', /--mac-source is required/],
    ['-A INPUT -m mac --mac-source 0x:1:2:3:4:5', /invalid MAC address/],
    ['-A INPUT -m mac --mac-source 0:1:2:3:4:5:6', /invalid MAC address/],
    ['-A OUTPUT -m mac --mac-source 0:1:2:3:4:5', /kernel's checks: EINVAL/],
    ['-A OUTPUT -m owner', /--uid-owner, --gid-owner or --socket-exists is required/],
    ['-A OUTPUT -m owner --suppl-groups --gid-owner 1', /--gid-owner first/],
    ['-A OUTPUT -m owner --uid-owner 4294967295', /bad value "4294967295"/],
    ['-A OUTPUT -m owner --uid-owner 5-', /bad value "5-"/],
    ['-A OUTPUT -m owner --uid-owner 9-3', /EINVAL: match "owner"/],
    ['-A INPUT -m owner --socket-exists', /kernel's checks: EINVAL/],
    [
      '-A INPUT -m hashlimit --hashlimit-name x',
      /--hashlimit-upto or --hashlimit-above is required/,
    ],
    ['-A INPUT -m hashlimit --hashlimit-upto 5/s', /--hashlimit-name is required/],
    ['-A INPUT -m hashlimit --hashlimit-upto 5/s --hashlimit-name ""', /--hashlimit-name is empty/],
    [
      '-A INPUT -m hashlimit --hashlimit-upto 5/s --hashlimit-above 5/s --hashlimit-name x',
      /exclude each other/,
    ],
    ['-A INPUT -m hashlimit --hashlimit-upto 5/fortnight --hashlimit-name x', /bad rate/],
    ['-A INPUT -m hashlimit --hashlimit-upto 2000000/s --hashlimit-name x', /too fast/],
    ['-A INPUT -m hashlimit --hashlimit-upto 5/s --hashlimit-name x --hashlimit-mode ip', /mode/],
    [
      '-A INPUT -m hashlimit --hashlimit-upto 5/s --hashlimit-name x --hashlimit-burst 0',
      /bad value/,
    ],
    [
      '-A INPUT -m hashlimit --hashlimit-upto 5/s --hashlimit-name x --hashlimit-burst 2000k',
      /above 1000000/,
    ],
    [
      '-A INPUT -m hashlimit --hashlimit-upto 1kb/s --hashlimit-name x --hashlimit-burst 5',
      /burst cannot be smaller/,
    ],
    [
      '-A INPUT -m hashlimit --hashlimit-upto 5/s --hashlimit-name x --hashlimit-rate-interval 0',
      /rate-interval/,
    ],
    [
      '-A INPUT -m hashlimit --hashlimit-upto 5/s --hashlimit-name x --hashlimit-htable-gcinterval 0',
      /EINVAL: match "hashlimit"/,
    ],
    [
      '-A INPUT -m hashlimit --hashlimit-upto 5/s --hashlimit-name x --hashlimit-srcmask 33',
      /EINVAL: match "hashlimit"/,
    ],
    [
      '-A INPUT -m hashlimit --hashlimit-upto 1/day --hashlimit-burst 100 --hashlimit-name x',
      /ERANGE: match "hashlimit"/,
    ],
    [
      '-A INPUT -m hashlimit --hashlimit-upto 5/s --hashlimit-name a/b',
      /EINVAL: match "hashlimit"/,
    ],
    [
      '-A INPUT -m connlimit --connlimit-mask 8',
      /--connlimit-above or --connlimit-upto is required/,
    ],
    ['-A INPUT -m connlimit --connlimit-above 1 --connlimit-upto 2', /exclude each other/],
    ['-A INPUT -m connlimit --connlimit-above 1 --connlimit-saddr --connlimit-daddr', /exclude/],
    ['-A INPUT -m connlimit --connlimit-above 4294967296', /out of range/],
    ['-A INPUT -m pkttype', /--pkt-type is required/],
    ['-A INPUT -m pkttype --pkt-type loopback', /bad packet type "loopback"/],
    ['-A INPUT -m physdev', /no physdev option/],
    ['-A INPUT -m physdev --physdev-in 0123456789abcdef', /shorter than 16/],
    ['-A OUTPUT -m physdev --physdev-out br0', /kernel's checks: EINVAL/],
    ['-A INPUT -p sctp --dport 5:4', /min > max/],
    ['-A INPUT -p sctp --chunk-types some DATA', /ALL, ANY or ONLY/],
    ['-A INPUT -p sctp --chunk-types any', /takes 2 arguments/],
    ['-A INPUT -p sctp --chunk-types any DATA:X', /invalid flag "X"/],
    ['-A INPUT -p sctp --chunk-types any BOGUS', /unknown chunk "BOGUS"/],
    ['-A INPUT -m sctp --dport 80', /EINVAL: match "sctp" needs "-p 132"/],
    ['-A INPUT -p sctp --chunk-types any DATA,NONE', /unknown chunk "NONE"/],
    ['-A INPUT ! -p sctp -m sctp --dport 80', /EINVAL: match "sctp" needs "-p 132"/],
    ['-A INPUT -m policy --pol ipsec', /neither --dir in nor --dir out/],
    ['-A INPUT -m policy --dir up', /invalid value "up"/],
    ['-A INPUT -m policy --dir in --pol none --strict', /--pol none with --strict/],
    ['-A INPUT -m policy --dir in --reqid 1 --next --reqid 2', /--next needs --strict/],
    ['-A INPUT -m policy --dir in --reqid 1 --reqid 2', /double --reqid/],
    ['-A INPUT -m policy --dir in --strict', /element 0 is empty/],
    ['-A INPUT -m policy --dir in --proto udp', /ah, esp or ipcomp/],
    ['-A INPUT -m policy --dir in --tunnel-src 1.2.3.4', /need --mode tunnel/],
    [
      '-A INPUT -m policy --dir in --strict --spi 1 --next --spi 2 --next --spi 3 --next --spi 4 --next',
      /maximum policy depth/,
    ],
    ['-A INPUT -m policy --dir out', /kernel's checks: EINVAL/],
    ['-A OUTPUT -m policy --dir in', /kernel's checks: EINVAL/],
    ['-A INPUT -m bogus -j ACCEPT', /unknown match "bogus"/],
    ['-A INPUT -j nochain', /-j nochain: no such target or user chain/],
    ['-A INPUT -o eth0 -j ACCEPT', /can't use -o with INPUT/],
    ['-A OUTPUT -i eth0 -j ACCEPT', /can't use -i with OUTPUT/],
    ['-A INPUT -s 10.0.0.300 -j ACCEPT', /"10.0.0.300" is not an IPv4 address/],
    ['-A INPUT -s 10.0.0.1/33 -j ACCEPT', /33 is out of range 0-32/],
    ['-A INPUT ! -p all -j ACCEPT', /never match/],
    [
      '-A INPUT -s 1.1.1.1 ! -d 2.2.2.2,3.3.3.3',
      /! not allowed with multiple source or destination/,
    ],
    ['-A INPUT -i abcdefghijklmnopq -j ACCEPT', /interface names are shorter than 16/],
    ['-A nochain -j ACCEPT', /no chain "nochain"/],
    ['-A INPUT -j u\n-A u -j u', /line 1: table "filter" is refused by the kernel's checks: ELOOP/],
  ];

  it.each(CASES)('%s', (rule, message) => {
    const text = table(rule);
    expect(iptablesAccepts(text)).toBe(false);
    let err: unknown;
    try {
      parseSave(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SaveError);
    expect((err as SaveError).message).toMatch(message);
  });

  it('passes over other tables, listing them', () => {
    const text = `*nat\n:POSTROUTING ACCEPT [0:0]\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n${EVERY_OPTION}*mangle\nCOMMIT\n`;
    const file = parseSave(text);
    expect(file.tables.map((t) => t.table.name)).toEqual(['filter']);
    expect(file.skipped).toEqual([
      { name: 'nat', line: 1 },
      { name: 'mangle', line: text.split('\n').indexOf('*mangle') + 1 },
    ]);
  });

  it('refuses structural mistakes with their line', () => {
    expect(() => parseSave('*filter\n-A INPUT -j ACCEPT\n')).toThrow(
      /line 2: table "filter" lacks COMMIT/,
    );
    expect(() => parseSave('*nat\n-A POSTROUTING\n')).toThrow(/line 2: table "nat" lacks COMMIT/);
    expect(() => parseSave(':INPUT ACCEPT\n')).toThrow(/line 1: no table/);
    expect(() => parseSave('*filter\n:INPUT REJECT [0:0]\nCOMMIT\n')).toThrow(
      /line 2: chain INPUT: policy/,
    );
    expect(() => parseSave('*filter\n:u ACCEPT [0:0]\nCOMMIT\n')).toThrow(
      /line 2: user chain u cannot/,
    );
    expect(() => parseSave('*filter\n-A INPUT -m comment --comment "open\nCOMMIT\n')).toThrow(
      /line 2: unterminated quote/,
    );
    expect(() => parseSave('*filter\n-I INPUT -j ACCEPT\nCOMMIT\n')).toThrow(
      /line 2: "-I": only -A/,
    );
  });
});
