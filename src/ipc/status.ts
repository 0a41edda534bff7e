// `bpfilter status`: is the daemon up, and per namespace and table what it serves (rules, the
// last apply, refused applies and why), next to what runs in the kernel for it (the backend's
// describe: programs, links, maps and pins, by the ids bpftool shows). The daemon builds one
// DaemonStatus on request (control.ts carries it); formatStatus renders it for people.
import { readdirSync } from 'node:fs';
import { cookieOf } from '../sys/netns.js';
import type { TableView } from '../translate/view.js';
import type { BackendNetnsStatus } from './backend.js';

/** One SET_REPLACE as the caller saw it. */
export interface ApplyRecord {
  /** When it arrived (ISO 8601). */
  readonly at: string;
  /** How long it took to answer, in milliseconds. */
  readonly ms: number;
  /** "ok", or the errno name the caller got (EINVAL, EOPNOTSUPP, ...). */
  readonly result: string;
  /** Why it was refused: the sentence the log has. */
  readonly reason?: string;
  /** Entries of the table it installed. */
  readonly entries?: number;
}

export interface TableHistory {
  readonly applies: number;
  readonly refusedCount: number;
  readonly last?: ApplyRecord;
  /** The latest refusals, newest last. */
  readonly refused: readonly ApplyRecord[];
}

const KEEP_REFUSED = 10;

/** Apply outcomes per namespace and table, for as long as the daemon runs. */
export class ApplyHistory {
  private readonly byKey = new Map<string, TableHistory>();

  /**
   * `table` is "" when the request was refused before its table name could be read, or named
   * a table the helper does not serve.
   */
  record(netns: string, table: string, rec: ApplyRecord): void {
    const key = `${netns}/${table}`;
    const h = this.byKey.get(key) ?? { applies: 0, refusedCount: 0, refused: [] };
    const refused = rec.result === 'ok' ? h.refused : [...h.refused, rec].slice(-KEEP_REFUSED);
    this.byKey.set(key, {
      applies: h.applies + 1,
      refusedCount: h.refusedCount + (rec.result === 'ok' ? 0 : 1),
      last: rec,
      refused,
    });
  }

  get(netns: string, table: string): TableHistory | undefined {
    return this.byKey.get(`${netns}/${table}`);
  }

  /** [netns, table] of every table with a recorded apply. */
  keys(): [string, string][] {
    return [...this.byKey.keys()].map((k) => {
      const i = k.indexOf('/');
      return [k.slice(0, i), k.slice(i + 1)];
    });
  }

  forget(netns: string): void {
    for (const key of [...this.byKey.keys()])
      if (key.startsWith(`${netns}/`)) this.byKey.delete(key);
  }
}

/** A table the service answers for: in memory, or saved by an earlier helper and not read yet. */
export interface ServedTable {
  readonly netns: string;
  readonly table: TableView;
  /** False while it is only on disk (no command reached that namespace since the restart). */
  readonly loaded: boolean;
}

export interface TableStatus {
  readonly name: string;
  /** Rules in all chains, as `iptables -S` lists them (no policies, chain heads or footers). */
  readonly rules: number;
  readonly chains: number;
  /** Blob entries (= counters). */
  readonly entries: number;
  readonly loaded: boolean;
  readonly applies: number;
  readonly lastApply?: ApplyRecord;
  readonly refusedCount: number;
  readonly refused: readonly ApplyRecord[];
}

/** What the helper did with the events the programs sent (LOG lines, REJECT replies). */
export interface EventCounts {
  readonly received: number;
  /** Events the helper could not act on (a reply that could not be sent, a bad record). */
  readonly failed: number;
}

export interface NetnsStatus {
  /** The namespace cookie, the key of pins and saved state. */
  readonly id: string;
  /** Its names under /run/netns, and "(daemon's own)" for the daemon's namespace. */
  readonly names: readonly string[];
  readonly tables: readonly TableStatus[];
  /** What the backend runs for it; absent for a backend that runs nothing (store-only). */
  readonly kernel?: BackendNetnsStatus;
  readonly events?: EventCounts;
}

export interface DaemonStatus {
  readonly version: string;
  readonly pid: number;
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly backend: string;
  readonly socket?: string;
  readonly control?: string;
  readonly pinRoot?: string;
  readonly stateDir: string;
  readonly namespaces: readonly NetnsStatus[];
}

/** What the daemon knows about itself at start. */
export interface DaemonMeta {
  readonly version: string;
  readonly startedAt: number;
  readonly backend: string;
  readonly socket?: string;
  readonly control?: string;
  readonly pinRoot?: string;
  readonly stateDir: string;
}

export interface StatusSources {
  readonly meta: DaemonMeta;
  readonly tables: readonly ServedTable[];
  readonly history: ApplyHistory;
  readonly describe?: (netns: string) => BackendNetnsStatus | undefined;
  readonly events?: (netns: string) => EventCounts | undefined;
  /** Namespace id → names (netnsNames by default). */
  readonly names?: () => ReadonlyMap<string, readonly string[]>;
}

/** The names of namespaces: /run/netns entries and the daemon's own. */
export function netnsNames(): Map<string, string[]> {
  const names = new Map<string, string[]>();
  const add = (path: string, name: string): void => {
    try {
      const id = String(cookieOf(path));
      names.set(id, [...(names.get(id) ?? []), name]);
    } catch {
      // not a namespace (or gone)
    }
  };
  add('/proc/self/ns/net', "(daemon's own)");
  let entries: string[] = [];
  try {
    entries = readdirSync('/run/netns').sort();
  } catch {
    // no named namespaces
  }
  for (const n of entries) add(`/run/netns/${n}`, n);
  return names;
}

export function buildStatus(src: StatusSources, now = Date.now()): DaemonStatus {
  const { meta } = src;
  const tables = src.tables;
  const ids = [...new Set([...tables.map((t) => t.netns), ...src.history.keys().map((k) => k[0])])];
  const names = ids.length ? (src.names ?? netnsNames)() : new Map<string, string[]>();
  const namespaces = ids.sort().map((id): NetnsStatus => {
    const served = tables.filter((t) => t.netns === id);
    const tableNames = new Set([
      ...served.map((t) => t.table.name),
      ...src.history
        .keys()
        .filter((k) => k[0] === id)
        .map((k) => k[1]),
    ]);
    const ts = [...tableNames].sort().map((name): TableStatus => {
      const t = served.find((s) => s.table.name === name);
      const h = src.history.get(id, name);
      return {
        name,
        rules: t?.table.rules ?? 0,
        chains: t?.table.chains ?? 0,
        entries: t?.table.entries ?? 0,
        loaded: t?.loaded ?? false,
        applies: h?.applies ?? 0,
        ...(h?.last ? { lastApply: h.last } : {}),
        refusedCount: h?.refusedCount ?? 0,
        refused: h?.refused ?? [],
      };
    });
    const kernel = src.describe?.(id);
    const events = src.events?.(id);
    return {
      id,
      names: names.get(id) ?? [],
      tables: ts,
      ...(kernel ? { kernel } : {}),
      ...(events ? { events } : {}),
    };
  });
  return {
    version: meta.version,
    pid: process.pid,
    startedAt: new Date(meta.startedAt).toISOString(),
    uptimeSeconds: Math.round((now - meta.startedAt) / 100) / 10,
    backend: meta.backend,
    ...(meta.socket !== undefined ? { socket: meta.socket } : {}),
    ...(meta.control !== undefined ? { control: meta.control } : {}),
    ...(meta.pinRoot !== undefined ? { pinRoot: meta.pinRoot } : {}),
    stateDir: meta.stateDir,
    namespaces,
  };
}

export function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  const parts: [number, string][] = [
    [Math.floor(s / 86400), 'd'],
    [Math.floor((s % 86400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  return first < 0
    ? '0s'
    : parts
        .slice(first)
        .map(([n, u]) => `${n}${u}`)
        .join(' ');
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

function formatApply(r: ApplyRecord): string {
  const what = r.result === 'ok' ? `ok (${plural(r.entries ?? 0, 'entry', 'entries')})` : r.result;
  return `${r.at}, ${r.ms.toFixed(1)} ms: ${what}${r.reason ? `: ${r.reason}` : ''}`;
}

function formatKernel(k: BackendNetnsStatus): string[] {
  const hooks = [...new Set([...k.links.map((l) => l.hook), ...k.programs.map((p) => p.hook)])];
  const lines = hooks.map((hook) => {
    const links = k.links.filter((l) => l.hook === hook).map((l) => `link ${l.id}`);
    const progs = k.programs.filter((p) => p.hook === hook).map((p) => `${p.name} (prog ${p.id})`);
    return `    ${hook}: ${[...links, progs.join(' -> ')].join(', ')}`;
  });
  lines.push(`    maps: ${k.maps.map((m) => `${m.name} (map ${m.id})`).join(', ') || 'none'}`);
  lines.push(`    pins: ${k.pins.length ? k.pins.join(' ') : 'none'}`);
  lines.push(
    `    events dropped in the kernel: ${k.eventsDropped === undefined ? 'not counted' : k.eventsDropped}`,
  );
  return lines;
}

export function formatStatus(s: DaemonStatus): string {
  const out = [
    `bpfilter ${s.version}: up, pid ${s.pid}, for ${formatDuration(s.uptimeSeconds)} (since ${s.startedAt})`,
    `  backend ${s.backend}`,
    ...(s.socket ? [`  socket ${s.socket}, control ${s.control ?? '-'}`] : []),
    `  pins ${s.pinRoot ?? '-'}, saved state ${s.stateDir}`,
  ];
  if (!s.namespaces.length) out.push('', 'no rulesets served yet');
  for (const ns of s.namespaces) {
    out.push('', `netns ${ns.id}${ns.names.length ? ` (${ns.names.join(', ')})` : ''}`);
    for (const t of ns.tables) {
      const where = t.loaded ? '' : ' (saved by an earlier helper, not read yet)';
      out.push(
        `  ${t.name || '(unnamed)'}: ${plural(t.rules, 'rule')} in ${plural(t.chains, 'chain')}, ${plural(t.entries, 'entry', 'entries')}${where}`,
      );
      out.push(
        `    applies: ${t.applies}, refused: ${t.refusedCount}${t.lastApply ? `; last ${formatApply(t.lastApply)}` : ''}`,
      );
      for (const r of t.refused) out.push(`    refused ${formatApply(r)}`);
    }
    if (ns.kernel) out.push('  in the kernel:', ...formatKernel(ns.kernel));
    if (ns.events) out.push(`  events: ${ns.events.received} received, ${ns.events.failed} failed`);
  }
  return `${out.join('\n')}\n`;
}
