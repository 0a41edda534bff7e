// sys.node: the system calls the helper makes per request, as a Node-API addon.
//
// Why not ffi: every call through @2060.io/ffi-napi keeps native memory that no collection
// returns (0.4 KB for getpid(), 9 KB for a process_vm_readv with its iovecs, 17 KB for a
// namespace cookie; node-ffi-napi#163), so a helper answering sockopts grew by the request.
// Here a call is a plain C call on the JS thread, or on libuv's pool for the ones that wait.
//
// Conventions, the same for every function: numbers in, Buffers (any Uint8Array) for memory,
// bigints for addresses in another process; the result is the call's own (>= 0) or -errno, so
// errno is read right after the call on the thread that made it. Only a wrong argument type
// throws. The JS side (src/sys/libc.ts) turns -errno into SysError.
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <linux/membarrier.h>
#include <node_api.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 6
// Object names: libbpf keeps the first BPF_OBJ_NAME_LEN - 1 bytes.
#define NAME_MAX_LEN 64

#define NAPI(call)                                                                               \
  do {                                                                                           \
    if ((call) != napi_ok) return NULL;                                                          \
  } while (0)

typedef struct {
  size_t argc;
  napi_value argv[MAX_ARGS];
} args_t;

static int get_args(napi_env env, napi_callback_info info, args_t *a, size_t want) {
  a->argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, &a->argc, a->argv, NULL, NULL) != napi_ok) return -1;
  if (a->argc < want) {
    napi_throw_type_error(env, NULL, "too few arguments");
    return -1;
  }
  return 0;
}

static int int_arg(napi_env env, napi_value v, int64_t *out) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a number");
    return -1;
  }
  return 0;
}

static int addr_arg(napi_env env, napi_value v, uint64_t *out) {
  bool lossless;
  if (napi_get_value_bigint_uint64(env, v, out, &lossless) != napi_ok || !lossless) {
    napi_throw_type_error(env, NULL, "expected an address as a bigint");
    return -1;
  }
  return 0;
}

/** A Uint8Array's bytes; null and undefined give NULL, 0 when `optional`. */
static int bytes_arg(napi_env env, napi_value v, bool optional, void **data, size_t *len) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (optional && (t == napi_null || t == napi_undefined)) {
    *data = NULL;
    *len = 0;
    return 0;
  }
  bool is;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, len, data, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "expected a Buffer");
    return -1;
  }
  return 0;
}

/** A string argument, copied into `out` (NUL-terminated; longer strings are an error). */
static int string_arg(napi_env env, napi_value v, char *out, size_t size) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, out, size, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string");
    return -1;
  }
  if (len + 1 >= size) {
    napi_throw_range_error(env, NULL, "string too long");
    return -1;
  }
  return 0;
}

static napi_value number(napi_env env, int64_t r) {
  napi_value v;
  NAPI(napi_create_int64(env, r, &v));
  return v;
}

/** The call's result, or -errno when it failed. */
static napi_value result(napi_env env, int64_t r) {
  return number(env, r < 0 ? -(int64_t)errno : r);
}

// Each binding below parses its arguments into locals and makes one call.

#define ARGS(n)                                                                                  \
  args_t a;                                                                                      \
  if (get_args(env, info, &a, (n)) < 0) return NULL
#define INT(i, name)                                                                             \
  int64_t name;                                                                                  \
  if (int_arg(env, a.argv[i], &name) < 0) return NULL
#define ADDR(i, name)                                                                            \
  uint64_t name;                                                                                 \
  if (addr_arg(env, a.argv[i], &name) < 0) return NULL
#define STRING(i, name, size)                                                                    \
  char name[size];                                                                               \
  if (string_arg(env, a.argv[i], name, sizeof(name)) < 0) return NULL
#define BYTES(i, name, optional)                                                                 \
  void *name;                                                                                    \
  size_t name##_len;                                                                             \
  if (bytes_arg(env, a.argv[i], (optional), &name, &name##_len) < 0) return NULL

/** addressOf(buf): where a Buffer's bytes are (for bpf_attr and iovec pointer fields). */
static napi_value address_of(napi_env env, napi_callback_info info) {
  ARGS(1);
  BYTES(0, buf, false);
  napi_value v;
  NAPI(napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)buf, &v));
  return v;
}

/** bpf(cmd, attr) */
static napi_value sys_bpf(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT(0, cmd);
  BYTES(1, attr, false);
  return result(env, syscall(SYS_bpf, (int)cmd, attr, (unsigned int)attr_len));
}

static ssize_t vm_rw(bool write, pid_t pid, uint64_t remote, void *local, size_t len) {
  struct iovec l = {.iov_base = local, .iov_len = len};
  struct iovec r = {.iov_base = (void *)(uintptr_t)remote, .iov_len = len};
  return write ? process_vm_writev(pid, &l, 1, &r, 1, 0) : process_vm_readv(pid, &l, 1, &r, 1, 0);
}

/** processVmReadv(pid, remote, local): reads local.length bytes at `remote` in `pid`. */
static napi_value vm_read(napi_env env, napi_callback_info info) {
  ARGS(3);
  INT(0, pid);
  ADDR(1, remote);
  BYTES(2, local, false);
  return result(env, vm_rw(false, (pid_t)pid, remote, local, local_len));
}

/** processVmWritev(pid, remote, data) */
static napi_value vm_write(napi_env env, napi_callback_info info) {
  ARGS(3);
  INT(0, pid);
  ADDR(1, remote);
  BYTES(2, data, false);
  return result(env, vm_rw(true, (pid_t)pid, remote, data, data_len));
}

// Calls that wait run on libuv's pool: the JS thread gets the result (or -errno, read on the
// pool thread that made the call) in a callback. `keep` holds the buffer the call writes.

typedef enum { JOB_VM_READ, JOB_MEMBARRIER, JOB_EPOLL_WAIT, JOB_PROG_LOAD, JOB_WRITE_ATOMIC } job_kind;

typedef struct {
  job_kind kind;
  int64_t a, b, c;
  uint64_t remote;
  void *buf;
  size_t len;
  void *opts;
  char name[NAME_MAX_LEN];
  char *path;
  int64_t ret;
  napi_ref keep;
  napi_ref keep2;
  napi_ref cb;
  napi_async_work work;
} job_t;

/*
 * `len` bytes in `path`.tmp (created with `mode`), then renamed over `path`: a reader sees the
 * old file or the new one whole. A failure removes the .tmp, which on a full disk would hold on
 * to what space is left.
 */
static int64_t write_atomic(const char *path, const void *data, size_t len, mode_t mode) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  size_t done = 0;
  int err = 0;
  while (done < len) {
    ssize_t n = write(fd, (const char *)data + done, len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    done += (size_t)n;
  }
  if (close(fd) < 0 && err == 0) err = errno;
  if (err == 0 && rename(tmp, path) < 0) err = errno;
  if (err != 0) {
    unlink(tmp);
    errno = err;
    return -1;
  }
  return 0;
}

static void job_run(napi_env env, void *data) {
  (void)env;
  job_t *j = data;
  int64_t r = -1;
  switch (j->kind) {
  case JOB_VM_READ:
    r = vm_rw(false, (pid_t)j->a, j->remote, j->buf, j->len);
    break;
  case JOB_MEMBARRIER:
    r = syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0);
    break;
  case JOB_EPOLL_WAIT:
    r = epoll_wait((int)j->a, j->buf, (int)j->b, (int)j->c);
    break;
  case JOB_WRITE_ATOMIC:
    r = write_atomic(j->path, j->buf, j->len, (mode_t)j->a);
    break;
  case JOB_PROG_LOAD:
    // libbpf returns -errno itself.
    j->ret = bpf_prog_load((enum bpf_prog_type)j->a, j->name, "GPL", j->buf,
                           j->len / sizeof(struct bpf_insn), j->opts);
    return;
  }
  j->ret = r < 0 ? -(int64_t)errno : r;
}

static void job_done(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_value cb, global, argv[1];
  if (napi_get_reference_value(env, j->cb, &cb) == napi_ok &&
      napi_get_global(env, &global) == napi_ok &&
      napi_create_int64(env, status == napi_ok ? j->ret : -ECANCELED, &argv[0]) == napi_ok)
    napi_call_function(env, global, cb, 1, argv, NULL);
  if (j->keep != NULL) napi_delete_reference(env, j->keep);
  if (j->keep2 != NULL) napi_delete_reference(env, j->keep2);
  napi_delete_reference(env, j->cb);
  napi_delete_async_work(env, j->work);
  free(j->path);
  free(j);
}

static napi_value queue(napi_env env, job_t *j, napi_value keep, napi_value keep2, napi_value cb,
                        const char *name) {
  napi_value resource;
  napi_valuetype t;
  if (napi_typeof(env, cb, &t) != napi_ok || t != napi_function) {
    free(j->path);
    free(j);
    napi_throw_type_error(env, NULL, "expected a callback");
    return NULL;
  }
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource) != napi_ok ||
      (keep != NULL && napi_create_reference(env, keep, 1, &j->keep) != napi_ok) ||
      (keep2 != NULL && napi_create_reference(env, keep2, 1, &j->keep2) != napi_ok) ||
      napi_create_reference(env, cb, 1, &j->cb) != napi_ok ||
      napi_create_async_work(env, NULL, resource, job_run, job_done, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    free(j->path);
    free(j);
    return NULL;
  }
  return NULL;
}

static job_t *job(job_kind kind) {
  job_t *j = calloc(1, sizeof(*j));
  if (j != NULL) j->kind = kind;
  return j;
}

/** processVmReadvAsync(pid, remote, local, cb(n | -errno)) */
static napi_value vm_read_async(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, pid);
  ADDR(1, remote);
  BYTES(2, local, false);
  job_t *j = job(JOB_VM_READ);
  if (j == NULL) return NULL;
  j->a = pid;
  j->remote = remote;
  j->buf = local;
  j->len = local_len;
  return queue(env, j, a.argv[2], NULL, a.argv[3], "process_vm_readv");
}

/** membarrierAsync(cb(0 | -errno)): MEMBARRIER_CMD_GLOBAL, an RCU grace period. */
static napi_value membarrier_async(napi_env env, napi_callback_info info) {
  ARGS(1);
  job_t *j = job(JOB_MEMBARRIER);
  if (j == NULL) return NULL;
  return queue(env, j, NULL, NULL, a.argv[0], "membarrier");
}

/** epollWaitAsync(epfd, events, timeoutMs, cb(n | -errno)): events holds 12-byte records. */
static napi_value epoll_wait_async(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, epfd);
  BYTES(1, events, false);
  INT(2, timeout);
  job_t *j = job(JOB_EPOLL_WAIT);
  if (j == NULL) return NULL;
  j->a = epfd;
  j->b = (int64_t)(events_len / sizeof(struct epoll_event));
  j->c = timeout;
  j->buf = events;
  return queue(env, j, a.argv[1], NULL, a.argv[3], "epoll_wait");
}

/**
 * writeFileAtomicAsync(path, data, mode, cb(0 | -errno)): path.tmp written and renamed over path
 * in one job on the pool. fs/promises takes four (open, write, close, rename), each a round trip
 * through the event loop: 1-15 ms for the 150 KB counters file of a 9,400-rule table on two busy
 * cores, in every iptables command's SET_ADD_COUNTERS.
 */
static napi_value write_atomic_async(napi_env env, napi_callback_info info) {
  ARGS(4);
  STRING(0, path, PATH_MAX);
  BYTES(1, data, false);
  INT(2, mode);
  job_t *j = job(JOB_WRITE_ATOMIC);
  if (j == NULL) return NULL;
  j->path = strdup(path);
  if (j->path == NULL) {
    free(j);
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  j->a = mode;
  j->buf = data;
  j->len = data_len;
  return queue(env, j, a.argv[1], NULL, a.argv[3], "write_atomic");
}

static napi_value sys_setns(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT(0, fd);
  INT(1, type);
  return result(env, setns((int)fd, (int)type));
}

static napi_value sys_socket(napi_env env, napi_callback_info info) {
  ARGS(3);
  INT(0, domain);
  INT(1, type);
  INT(2, proto);
  return result(env, socket((int)domain, (int)type, (int)proto));
}

static napi_value sys_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT(0, fd);
  return result(env, close((int)fd));
}

/** getsockopt(fd, level, name, value): the length the kernel wrote, or -errno. */
static napi_value sys_getsockopt(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, fd);
  INT(1, level);
  INT(2, name);
  BYTES(3, value, false);
  socklen_t len = (socklen_t)value_len;
  int r = getsockopt((int)fd, (int)level, (int)name, value, &len);
  return result(env, r < 0 ? r : (int64_t)len);
}

static napi_value sys_setsockopt(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, fd);
  INT(1, level);
  INT(2, name);
  BYTES(3, value, false);
  return result(env, setsockopt((int)fd, (int)level, (int)name, value, (socklen_t)value_len));
}

static napi_value sys_bind(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT(0, fd);
  BYTES(1, sa, false);
  return result(env, bind((int)fd, sa, (socklen_t)sa_len));
}

static napi_value sys_connect(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT(0, fd);
  BYTES(1, sa, false);
  return result(env, connect((int)fd, sa, (socklen_t)sa_len));
}

/** sendto(fd, data, flags, to | null) */
static napi_value sys_sendto(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, fd);
  BYTES(1, data, false);
  INT(2, flags);
  BYTES(3, to, true);
  return result(env, sendto((int)fd, data, data_len, (int)flags, to, (socklen_t)to_len));
}

static napi_value sys_recv(napi_env env, napi_callback_info info) {
  ARGS(3);
  INT(0, fd);
  BYTES(1, buf, false);
  INT(2, flags);
  return result(env, recv((int)fd, buf, buf_len, (int)flags));
}

static napi_value sys_epoll_create1(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT(0, flags);
  return result(env, epoll_create1((int)flags));
}

/** epollCtl(epfd, op, fd, event | null): event is one 12-byte struct epoll_event. */
static napi_value sys_epoll_ctl(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, epfd);
  INT(1, op);
  INT(2, fd);
  BYTES(3, ev, true);
  if (ev != NULL && ev_len < sizeof(struct epoll_event)) return number(env, -EINVAL);
  return result(env, epoll_ctl((int)epfd, (int)op, (int)fd, ev));
}

/** clockGettime(id): nanoseconds as a bigint, or -errno as a number. */
static napi_value sys_clock_gettime(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT(0, id);
  struct timespec ts;
  if (clock_gettime((clockid_t)id, &ts) < 0) return number(env, -errno);
  napi_value v;
  NAPI(napi_create_bigint_int64(env, (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, &v));
  return v;
}

/** timezoneMinutesWest(): gettimeofday's tz_minuteswest, what the kernel's sys_tz holds. */
static napi_value sys_tz_minutes_west(napi_env env, napi_callback_info info) {
  (void)info;
  struct timeval tv;
  struct timezone tz;
  if (gettimeofday(&tv, &tz) < 0) return number(env, -errno);
  return number(env, tz.tz_minuteswest);
}

/**
 * mmap(fd, len, prot, offset): a MAP_SHARED mapping as an ArrayBuffer, or -errno. The mapping
 * lives until munmap(buffer), which also detaches the buffer, so a view used after it sees zero
 * bytes instead of unmapped memory.
 */
static napi_value sys_mmap(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, fd);
  INT(1, len);
  INT(2, prot);
  INT(3, offset);
  void *p = mmap(NULL, (size_t)len, (int)prot, MAP_SHARED, (int)fd, (off_t)offset);
  if (p == MAP_FAILED) return number(env, -errno);
  napi_value ab;
  if (napi_create_external_arraybuffer(env, p, (size_t)len, NULL, NULL, &ab) != napi_ok) {
    munmap(p, (size_t)len);
    return NULL;
  }
  return ab;
}

/**
 * mallocTrim(): gives the free memory of every malloc arena back to the system. A worker
 * thread's arena keeps what a big apply's Buffers freed, and glibc trims only the top of an
 * arena on its own.
 */
static napi_value sys_malloc_trim(napi_env env, napi_callback_info info) {
  (void)info;
  return number(env, malloc_trim(0));
}

static napi_value sys_page_size(napi_env env, napi_callback_info info) {
  (void)info;
  return number(env, sysconf(_SC_PAGESIZE));
}

static napi_value sys_munmap(napi_env env, napi_callback_info info) {
  ARGS(1);
  void *p;
  size_t len;
  bool detached;
  NAPI(napi_is_detached_arraybuffer(env, a.argv[0], &detached));
  if (detached) return number(env, 0);
  NAPI(napi_get_arraybuffer_info(env, a.argv[0], &p, &len));
  int r = munmap(p, len);
  if (r < 0) return result(env, r);
  NAPI(napi_detach_arraybuffer(env, a.argv[0]));
  return number(env, 0);
}

// libbpf's calls: they return -errno themselves (libbpf 1.x). The opts structs are the caller's
// Buffers, laid out by src/bpf/libbpf.ts; what they point to is the caller's to keep alive.

/** progLoad(type, name, insns, opts): the program's fd (license GPL). */
static napi_value prog_load(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, type);
  STRING(1, name, NAME_MAX_LEN);
  BYTES(2, insns, false);
  BYTES(3, opts, false);
  return number(env, bpf_prog_load((enum bpf_prog_type)type, name, "GPL", insns,
                                   insns_len / sizeof(struct bpf_insn), opts));
}

/** progLoadAsync(type, name, insns, opts, cb(fd | -errno)): the verifier runs on the pool. */
static napi_value prog_load_async(napi_env env, napi_callback_info info) {
  ARGS(5);
  INT(0, type);
  STRING(1, name, NAME_MAX_LEN);
  BYTES(2, insns, false);
  BYTES(3, opts, false);
  job_t *j = job(JOB_PROG_LOAD);
  if (j == NULL) return NULL;
  j->a = type;
  memcpy(j->name, name, sizeof(j->name));
  j->buf = insns;
  j->len = insns_len;
  j->opts = opts;
  return queue(env, j, a.argv[2], a.argv[3], a.argv[4], "bpf_prog_load");
}

/** mapCreate(type, name, keySize, valueSize, maxEntries, opts) */
static napi_value map_create(napi_env env, napi_callback_info info) {
  ARGS(6);
  INT(0, type);
  STRING(1, name, NAME_MAX_LEN);
  INT(2, key);
  INT(3, value);
  INT(4, max);
  BYTES(5, opts, false);
  return number(env, bpf_map_create((enum bpf_map_type)type, name, (__u32)key, (__u32)value,
                                    (__u32)max, opts));
}

/** btfLoad(blob, opts) */
static napi_value btf_load(napi_env env, napi_callback_info info) {
  ARGS(2);
  BYTES(0, blob, false);
  BYTES(1, opts, false);
  return number(env, bpf_btf_load(blob, blob_len, opts));
}

static napi_value obj_pin(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT(0, fd);
  STRING(1, path, PATH_MAX);
  return number(env, bpf_obj_pin((int)fd, path));
}

static napi_value obj_get(napi_env env, napi_callback_info info) {
  ARGS(1);
  STRING(0, path, PATH_MAX);
  return number(env, bpf_obj_get(path));
}

/** progTestRun(fd, opts) */
static napi_value prog_test_run(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT(0, fd);
  BYTES(1, opts, false);
  return number(env, bpf_prog_test_run_opts((int)fd, opts));
}

// libbpf's map element calls.

static napi_value map_lookup(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, fd);
  BYTES(1, key, true);
  BYTES(2, value, false);
  INT(3, flags);
  return number(env, bpf_map_lookup_elem_flags((int)fd, key, value, (uint64_t)flags));
}

static napi_value map_update(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, fd);
  BYTES(1, key, true);
  BYTES(2, value, false);
  INT(3, flags);
  return number(env, bpf_map_update_elem((int)fd, key, value, (uint64_t)flags));
}

static napi_value map_delete(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT(0, fd);
  BYTES(1, key, false);
  return number(env, bpf_map_delete_elem((int)fd, key));
}

static napi_value map_next_key(napi_env env, napi_callback_info info) {
  ARGS(3);
  INT(0, fd);
  BYTES(1, key, true);
  BYTES(2, next, false);
  return number(env, bpf_map_get_next_key((int)fd, key, next));
}

/** mapLookupBatch(fd, in | null, out, keys, values, count): count is a u32 in and out. */
static napi_value map_lookup_batch(napi_env env, napi_callback_info info) {
  ARGS(6);
  INT(0, fd);
  BYTES(1, in, true);
  BYTES(2, out, false);
  BYTES(3, keys, false);
  BYTES(4, values, false);
  BYTES(5, count, false);
  if (count_len < sizeof(__u32)) return number(env, -EINVAL);
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  return number(env, bpf_map_lookup_batch((int)fd, in, out, keys, values, count, &opts));
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"addressOf", address_of},
      {"bpf", sys_bpf},
      {"processVmReadv", vm_read},
      {"processVmWritev", vm_write},
      {"processVmReadvAsync", vm_read_async},
      {"membarrierAsync", membarrier_async},
      {"epollWaitAsync", epoll_wait_async},
      {"writeFileAtomicAsync", write_atomic_async},
      {"setns", sys_setns},
      {"socket", sys_socket},
      {"close", sys_close},
      {"getsockopt", sys_getsockopt},
      {"setsockopt", sys_setsockopt},
      {"bind", sys_bind},
      {"connect", sys_connect},
      {"sendto", sys_sendto},
      {"recv", sys_recv},
      {"epollCreate1", sys_epoll_create1},
      {"epollCtl", sys_epoll_ctl},
      {"clockGettime", sys_clock_gettime},
      {"timezoneMinutesWest", sys_tz_minutes_west},
      {"mmap", sys_mmap},
      {"pageSize", sys_page_size},
      {"mallocTrim", sys_malloc_trim},
      {"munmap", sys_munmap},
      {"progLoad", prog_load},
      {"progLoadAsync", prog_load_async},
      {"mapCreate", map_create},
      {"btfLoad", btf_load},
      {"objPin", obj_pin},
      {"objGet", obj_get},
      {"progTestRun", prog_test_run},
      {"mapLookup", map_lookup},
      {"mapUpdate", map_update},
      {"mapDelete", map_delete},
      {"mapNextKey", map_next_key},
      {"mapLookupBatch", map_lookup_batch},
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value f;
    NAPI(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f));
    NAPI(napi_set_named_property(env, exports, fns[i].name, f));
  }
  return exports;
}
