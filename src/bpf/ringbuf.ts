// Consuming BPF ring buffers from Node: libbpf's ring_buffer manager through ffi. Waiting is an
// epoll_wait on libbpf's epoll fd run in libuv's thread pool, so the event loop never blocks;
// records are consumed (and their callbacks run) back on the JS thread.
import ffi from '@2060.io/ffi-napi';
import ref from '@2060.io/ref-napi';

interface RingLib {
  ring_buffer__new(fd: number, cb: Buffer, ctx: null, opts: null): Buffer;
  ring_buffer__add(rb: Buffer, fd: number, cb: Buffer, ctx: null): number;
  ring_buffer__consume(rb: Buffer): number;
  ring_buffer__epoll_fd(rb: Buffer): number;
  ring_buffer__free(rb: Buffer): void;
}

const lib = ffi.Library('libbpf.so.1', {
  ring_buffer__new: ['pointer', ['int', 'pointer', 'pointer', 'pointer']],
  ring_buffer__add: ['int', ['pointer', 'int', 'pointer', 'pointer']],
  ring_buffer__consume: ['int', ['pointer']],
  ring_buffer__epoll_fd: ['int', ['pointer']],
  ring_buffer__free: ['void', ['pointer']],
}) as unknown as RingLib;

type AsyncCall = (...args: [...unknown[], (err: Error | null, n: number) => void]) => void;

const epollWait = (
  ffi.Library(null, { epoll_wait: ['int', ['int', 'pointer', 'int', 'int']] }) as unknown as {
    epoll_wait: { async: AsyncCall };
  }
).epoll_wait;

/** How long one wait in the thread pool lasts before it looks at `closed` again. */
const WAIT_MS = 200;
/**
 * Records handled per turn of the event loop. ring_buffer__consume reads until the ring is
 * empty, which under a steady producer is never: a turn stops after this many (the callback's
 * negative return makes libbpf stop, that record consumed) and the rest waits for the next.
 */
const BATCH = 64;
const STOP = -1;

export type RecordHandler = (record: Buffer) => void;

/** One epoll set over any number of ring buffer maps, each with its own handler. */
export class RingReader {
  private rb: Buffer | undefined;
  private readonly rings = new Map<number, { handler: RecordHandler; cb: Buffer }>();
  private waiting = false;
  private closed = false;
  /** Records handled in the current drain. */
  private handled = 0;
  private again: NodeJS.Immediate | undefined;
  private readonly events = Buffer.alloc(12 * 4);

  constructor(private readonly onError: (e: unknown) => void) {}

  /** Starts delivering the records of ring buffer map `fd` to `handler`. */
  add(fd: number, handler: RecordHandler): void {
    const cb = ffi.Callback('int', ['pointer', 'pointer', 'size_t'], (_ctx, data, size) => {
      try {
        const view = ref.reinterpret(data as unknown as Buffer, Number(size), 0);
        handler(Buffer.from(view));
      } catch (e) {
        this.onError(e);
      }
      return ++this.handled >= BATCH ? STOP : 0;
    }) as unknown as Buffer;
    // The callback must outlive every call libbpf makes to it: keep it with its ring.
    this.rings.set(fd, { handler, cb });
    this.register(fd, cb);
    this.wait();
  }

  /**
   * Stops reading ring `fd` (the caller closes it). libbpf cannot take a ring out of its
   * manager, so the manager is rebuilt with the others, after what is pending is delivered.
   */
  remove(fd: number): void {
    if (!this.rings.has(fd)) return;
    this.drain();
    this.rings.delete(fd);
    if (this.rb !== undefined) lib.ring_buffer__free(this.rb);
    this.rb = undefined;
    for (const [other, { cb }] of this.rings) this.register(other, cb);
    this.wait();
  }

  private register(fd: number, cb: Buffer): void {
    if (this.rb === undefined) {
      const rb = lib.ring_buffer__new(fd, cb, null, null);
      if (ref.isNull(rb)) throw new Error(`ring_buffer__new(${fd}) failed`);
      this.rb = rb;
    } else {
      const r = lib.ring_buffer__add(this.rb, fd, cb, null);
      if (r < 0) throw new Error(`ring_buffer__add(${fd}): errno ${-r}`);
    }
  }

  /**
   * Delivers up to BATCH records of what is in the rings now; returns how many. When records
   * were left, the next batch runs on a later turn of the event loop, after other I/O.
   */
  drain(): number {
    if (this.rb === undefined) return 0;
    this.handled = 0;
    lib.ring_buffer__consume(this.rb);
    const n = this.handled;
    if (n >= BATCH && this.again === undefined && !this.closed) {
      this.again = setImmediate(() => {
        this.again = undefined;
        this.drain();
      });
    }
    return n;
  }

  private wait(): void {
    if (this.waiting || this.closed || this.rb === undefined) return;
    this.waiting = true;
    const rb = this.rb;
    const epfd = lib.ring_buffer__epoll_fd(rb);
    epollWait.async(epfd, this.events, 4, WAIT_MS, (err: Error | null, n: number) => {
      this.waiting = false;
      if (this.closed) return this.free();
      // A manager rebuilt meanwhile (remove) is waited on afresh; the old one is freed.
      if (rb === this.rb) {
        if (err) this.onError(err);
        else if (n > 0) this.drain();
      }
      this.wait();
    });
  }

  private free(): void {
    if (this.rb !== undefined) lib.ring_buffer__free(this.rb);
    this.rb = undefined;
  }

  /** Stops waiting; the manager is freed once the pending wait returns. */
  close(): void {
    this.closed = true;
    if (this.again !== undefined) clearImmediate(this.again);
    this.again = undefined;
    if (!this.waiting) this.free();
  }
}
