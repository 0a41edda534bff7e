// Consuming BPF ring buffers from Node, from the rings' own memory: each ring's consumer page
// is mapped read-write and its producer page and data (mapped twice over by the kernel, so a
// record that wraps is contiguous) read-only, as libbpf's ring_buffer does. Reading here rather
// than through libbpf's manager means no native call and no ffi callback per record: an ffi
// callback keeps a few hundred bytes of native memory for good, and a LOG flood is millions.
//
// Waiting is an epoll_wait on one epoll set over the ring fds, run in libuv's thread pool, so
// the event loop never blocks; records are handled back on the JS thread.
//
// The protocol (kernel/bpf/ringbuf.c): a record is an 8-byte header, its u32 length with
// BUSY (being written) and DISCARD (skip it) in the top bits, then the sample, padded to 8. The
// producer position is read with acquire and the consumer's written with release; JS Atomics
// are sequentially consistent, which is stronger than both.
import { mmap, munmap, pageSize, PROT_READ, SysError } from '../sys/libc.js';
import { sys } from '../sys/native.js';
import { mapInfo } from './syscall.js';

const PROT_WRITE = 2;
const BUSY = 0x8000_0000;
const DISCARD = 0x4000_0000;
const HDR = 8;
const EPOLLIN = 1;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EINTR = 4;
const EPOLL_EVENT = 12;

/** How long one wait in the thread pool lasts before it looks at `closed` again. */
const WAIT_MS = 200;
/**
 * Records handled per turn of the event loop. Under a steady producer a ring is never empty:
 * a turn stops after this many and the rest waits for the next, after other I/O.
 */
const BATCH = 64;

export type RecordHandler = (record: Buffer) => void;

/** One ring's mappings and where its consumer is. */
class Ring {
  private readonly consumerMap: ArrayBuffer;
  private readonly producerMap: ArrayBuffer;
  private readonly consumer: BigUint64Array;
  private readonly producer: BigUint64Array;
  private readonly headers: Uint32Array;
  private readonly mask: number;
  private readonly page = pageSize();
  /** The most records the ring can hold at once. */
  readonly capacity: number;

  constructor(
    readonly fd: number,
    readonly handler: RecordHandler,
  ) {
    const size = mapInfo(fd).maxEntries;
    this.mask = size - 1;
    this.capacity = size / HDR;
    this.consumerMap = mmap(fd, this.page, PROT_READ | PROT_WRITE, 0);
    try {
      this.producerMap = mmap(fd, this.page + 2 * size, PROT_READ, this.page);
    } catch (e) {
      munmap(this.consumerMap);
      throw e;
    }
    this.consumer = new BigUint64Array(this.consumerMap, 0, 1);
    this.producer = new BigUint64Array(this.producerMap, 0, 1);
    this.headers = new Uint32Array(this.producerMap, this.page);
  }

  /**
   * Hands up to `max` records to the handler; returns how many were handled. Each record's
   * space goes back to the producer once its bytes are copied out.
   */
  consume(max: number, onError: (e: unknown) => void): number {
    let handled = 0;
    let cons = Number(Atomics.load(this.consumer, 0));
    while (handled < max) {
      const prod = Number(Atomics.load(this.producer, 0));
      if (cons >= prod) break;
      const at = cons & this.mask;
      const hdr = Atomics.load(this.headers, at / 4);
      if ((hdr & BUSY) !== 0) break;
      const len = hdr & ~(BUSY | DISCARD);
      if ((hdr & DISCARD) === 0) {
        const record = Buffer.from(new Uint8Array(this.producerMap, this.page + at + HDR, len));
        handled++;
        try {
          this.handler(record);
        } catch (e) {
          onError(e);
        }
      }
      cons += (len + HDR + 7) & ~7;
      Atomics.store(this.consumer, 0, BigInt(cons));
    }
    return handled;
  }

  close(): void {
    munmap(this.producerMap);
    munmap(this.consumerMap);
  }
}

/** One epoll set over any number of ring buffer maps, each with its own handler. */
export class RingReader {
  private readonly epfd: number;
  private readonly rings = new Map<number, Ring>();
  private readonly events = Buffer.alloc(EPOLL_EVENT * 4);
  private waiting = false;
  private closed = false;
  private again: NodeJS.Immediate | undefined;
  private turn = 0;

  constructor(private readonly onError: (e: unknown) => void) {
    const fd = sys.epollCreate1(0o2000000);
    if (fd < 0) throw new SysError('epoll_create1', -fd);
    this.epfd = fd;
  }

  /** Starts delivering the records of ring buffer map `fd` to `handler`. */
  add(fd: number, handler: RecordHandler): void {
    const ring = new Ring(fd, handler);
    const ev = Buffer.alloc(EPOLL_EVENT);
    ev.writeUInt32LE(EPOLLIN, 0);
    ev.writeUInt32LE(fd, 4);
    const r = sys.epollCtl(this.epfd, EPOLL_CTL_ADD, fd, ev);
    if (r < 0) {
      ring.close();
      throw new SysError('epoll_ctl', -r);
    }
    this.rings.set(fd, ring);
    this.wait();
  }

  /** Stops reading ring `fd` (the caller closes it), after what is pending is delivered. */
  remove(fd: number): void {
    const ring = this.rings.get(fd);
    if (ring === undefined) return;
    ring.consume(ring.capacity, this.onError);
    this.rings.delete(fd);
    sys.epollCtl(this.epfd, EPOLL_CTL_DEL, fd, null);
    ring.close();
  }

  /**
   * Delivers up to BATCH records of what is in the rings now; returns how many. When records
   * were left, the next batch runs on a later turn of the event loop, after other I/O.
   */
  drain(): number {
    // Each turn starts at the next ring, so a flooded ring cannot keep the others waiting.
    const rings = [...this.rings.values()];
    const first = this.turn++ % Math.max(1, rings.length);
    let n = 0;
    for (let i = 0; i < rings.length && n < BATCH; i++)
      n += (rings[(first + i) % rings.length] as Ring).consume(BATCH - n, this.onError);
    if (n >= BATCH && this.again === undefined && !this.closed) {
      this.again = setImmediate(() => {
        this.again = undefined;
        this.drain();
      });
    }
    return n;
  }

  private wait(): void {
    if (this.waiting || this.closed || this.rings.size === 0) return;
    this.waiting = true;
    sys.epollWaitAsync(this.epfd, this.events, WAIT_MS, (n) => {
      this.waiting = false;
      if (this.closed) return this.free();
      if (n < 0 && -n !== EINTR) this.onError(new SysError('epoll_wait', -n));
      else if (n > 0) this.drain();
      this.wait();
    });
  }

  private free(): void {
    for (const ring of this.rings.values()) ring.close();
    this.rings.clear();
    sys.close(this.epfd);
  }

  /** Stops waiting; the rings are unmapped once the pending wait returns. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.again !== undefined) clearImmediate(this.again);
    this.again = undefined;
    if (!this.waiting) this.free();
  }
}
