// A deliberately wrong helper, for proving the differential harness can fail: the real daemon
// (service, socket, BPF backend) except that every rule's `-s` inversion is flipped before the
// table is compiled. Test-only: production code has no switch for it. Run from the build as
// `node dist/test/differential/faulty-daemon.js daemon --socket S --pin-root P --state-dir D`.
import { BpfBackend } from '../../src/bpf/backend.js';
import type { Planned } from '../../src/bpf/engine/compile.js';
import { Compiler, LocalCompute } from '../../src/bpf/engine/compute.js';
import { serveSocket } from '../../src/ipc/daemon.js';
import { eventWiring } from '../../src/ipc/events.js';
import { StateFiles } from '../../src/ipc/persist.js';
import { SockoptService, stderrLogger } from '../../src/ipc/service.js';
import { IPT_INV_SRCIP } from '../../src/translate/abi.js';
import type { Chain, Rule, Table } from '../../src/translate/ir.js';

const flipRule = (r: Rule): Rule =>
  r.ip.srcMask !== 0 ? { ...r, ip: { ...r.ip, invflags: r.ip.invflags ^ IPT_INV_SRCIP } } : r;

export function flipSourceInversions(t: Table): Table {
  const chains = t.chains.map((c): Chain => ({ ...c, rules: c.rules.map(flipRule) }));
  return { ...t, chains };
}

/** Plans every table flipped; what is listed and counted stays the table as sent. */
class FlippingCompiler extends Compiler {
  protected override planned(table: Table, hz: number | undefined): Planned {
    return super.planned(flipSourceInversions(table), hz);
  }
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const socket = option('--socket');
const pinRoot = option('--pin-root');
const stateDir = option('--state-dir');
if (socket === undefined || pinRoot === undefined || stateDir === undefined) {
  process.stderr.write('faulty-daemon: --socket, --pin-root and --state-dir are required\n');
  process.exit(2);
}
// LOG and REJECT as the real daemon does them: only the inversions differ.
const events = eventWiring(stderrLogger, option('--log-file'));
// Compiled on the daemon's own thread: this helper is for proving the harness, not for speed.
const compute = new LocalCompute(new FlippingCompiler());
const backend = new BpfBackend({ pinRoot, compute, ...events });
events.connect((netns, cookie, ctinfo, ct) => backend.tagReply(netns, cookie, ctinfo, ct));
const service = new SockoptService(backend, compute, stderrLogger, new StateFiles(stateDir));
await serveSocket(service, socket, stderrLogger);
stderrLogger({ event: 'listening', socket, faulty: 'source inversions flipped' });
