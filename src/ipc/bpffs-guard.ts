// Pins outlive the helper only on a bpffs that outlives the helper's mount namespace. A daemon
// started where /sys/fs/bpf is not the host's (`ip netns exec` unshares the mount namespace and
// remounts /sys) would pin into a private instance that dies with that namespace, and filtering
// would silently stop surviving the helper. So the daemon checks before it pins anything and
// refuses to start rather than mount a private bpffs.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statfsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export const BPF_FS_MAGIC = 0xcafe4a11;
export const BPFFS = '/sys/fs/bpf';

/** What is mounted at a directory: whether it is a bpffs, and its device (the superblock). */
export interface FsAt {
  readonly bpf: boolean;
  readonly dev: number;
}

/** The host's /sys/fs/bpf, seen through the root of a process in the host's mount namespace. */
export interface HostFs extends FsAt {
  /** Whether the helper runs in that same mount namespace. */
  readonly sameMountNs: boolean;
}

export interface BpffsFacts {
  /** The pin root was given explicitly (--pin-root): the operator chose where pins live. */
  readonly explicit?: string;
  /** The pin root's nearest existing directory (explicit), else /sys/fs/bpf; undefined: absent. */
  readonly here: FsAt | undefined;
  /** Undefined when no host process's root is readable (nothing to compare with). */
  readonly host: HostFs | undefined;
}

export type BpffsVerdict =
  | { readonly ok: true; readonly mount?: true; readonly note?: string }
  | { readonly ok: false; readonly reason: string };

const ADVICE =
  'pins made here would live and die with this mount namespace. Start the daemon in the host mount ' +
  'namespace (nsenter --net=/run/netns/NAME keeps the host mounts; ip netns exec does not), ' +
  'bind-mount the host /sys/fs/bpf here, or name a pin directory on a bpffs with --pin-root';

/** The decision, from what was observed (pure, so each case is tested on its own). */
export function judgeBpffs(f: BpffsFacts): BpffsVerdict {
  if (f.explicit !== undefined) {
    if (f.here?.bpf) return { ok: true };
    // A pin root under the host's own /sys/fs/bpf before anything mounted it: mount the host's,
    // as for the default root.
    if (f.host?.sameMountNs === true && !f.host.bpf && underBpffs(f.explicit)) {
      return { ok: true, mount: true };
    }
    return { ok: false, reason: `--pin-root ${f.explicit} is not on a bpffs` };
  }
  const here = f.here;
  if (f.host === undefined) {
    return here?.bpf
      ? { ok: true, note: `${BPFFS} is a bpffs; no host process was readable to compare it with` }
      : { ok: false, reason: `${BPFFS} is not a bpffs and the host's cannot be seen: ${ADVICE}` };
  }
  if (f.host.sameMountNs) {
    // The host's own /sys/fs/bpf, not mounted yet (systemd mounts it at boot; a bare init may
    // not): mounting it here is mounting the host's, as systemd would.
    return here?.bpf ? { ok: true } : { ok: true, mount: true };
  }
  if (!f.host.bpf) {
    return {
      ok: false,
      reason: `the host has no bpffs at ${BPFFS}, so none here is shared with it: ${ADVICE}`,
    };
  }
  if (here?.bpf && here.dev === f.host.dev) return { ok: true };
  const what =
    here === undefined
      ? 'missing'
      : here.bpf
        ? "a bpffs of its own, not the host's"
        : 'not a bpffs';
  return { ok: false, reason: `${BPFFS} in this mount namespace is ${what}: ${ADVICE}` };
}

function fsAt(path: string): FsAt | undefined {
  try {
    return { bpf: statfsSync(path).type === BPF_FS_MAGIC, dev: statSync(path).dev };
  } catch {
    return undefined;
  }
}

/** The nearest existing ancestor of `path` (a pin root is created on first use). */
function existing(path: string): string {
  let p = path;
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

/**
 * The host's /sys/fs/bpf: through pid 1's root, or, where pid 1 is out of reach (a sandbox's
 * init), through kthreadd's, which is the initial mount namespace.
 */
function hostFs(): HostFs | undefined {
  const self = readlinkSync('/proc/self/ns/mnt');
  for (const pid of ['1', '2']) {
    try {
      if (pid === '2' && readFileSync('/proc/2/comm', 'utf8').trim() !== 'kthreadd') continue;
      const ns = readlinkSync(`/proc/${pid}/ns/mnt`);
      const at = fsAt(`/proc/${pid}/root${BPFFS}`);
      if (at === undefined) continue;
      return { ...at, sameMountNs: ns === self };
    } catch {
      // not readable: try the next
    }
  }
  return undefined;
}

function underBpffs(path: string): boolean {
  return path === BPFFS || path.startsWith(`${BPFFS}/`);
}

export function bpffsFacts(explicitPinRoot?: string): BpffsFacts {
  const here = fsAt(explicitPinRoot !== undefined ? existing(explicitPinRoot) : BPFFS);
  const wantHost = explicitPinRoot === undefined || underBpffs(explicitPinRoot);
  return {
    ...(explicitPinRoot !== undefined ? { explicit: explicitPinRoot } : {}),
    here,
    host: wantHost ? hostFs() : undefined,
  };
}

/**
 * Throws with the reason when pins under `explicitPinRoot` (or the default root on /sys/fs/bpf)
 * would not be the host's; mounts the host's own /sys/fs/bpf when it is not mounted yet.
 * Returns a note worth logging, if any.
 */
export function guardBpffs(explicitPinRoot?: string): string | undefined {
  const v = judgeBpffs(bpffsFacts(explicitPinRoot));
  if (!v.ok) throw new Error(`refusing to start: ${v.reason}`);
  if (v.mount) {
    execFileSync('mount', ['-t', 'bpf', 'bpf', BPFFS]);
    return `mounted the host's bpffs on ${BPFFS}`;
  }
  return v.note;
}
