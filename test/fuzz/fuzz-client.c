/* The fuzz runner's hands: one long-lived process in the fuzz netns that sends every case's
 * sockopts both to the kernel (setsockopt/getsockopt on a raw socket) and to the helper (24-byte
 * mbox requests on its unix socket, pointing at a buffer of ours the helper reads and writes with
 * process_vm_readv/writev). argv[1]: the helper's socket; argv[2]: the netns the helper serves
 * us in. The raw socket is made first, in the netns we are started in: the kernel's own filter
 * table holds the netfilter hook priority the helper's BPF needs, so the two tables cannot
 * share a netns.
 *
 * stdin, little-endian u32s: a case is `nops` then nops ops, each
 *   {kind, is_set, cmd, optlen, datalen, place, flags, pid_mode, split} + datalen bytes;
 * nops 0xffffffff is the base table: u32 length + an ipt_replace blob; 0xfffffffe asks for a
 * reset of both sides to it (after a helper restart). stdout per case: per op {i32 kernel errno,
 * i32 helper status, u32 outputs equal}, then {u32 checked, u32 check bits}; one i32 per
 * control message.
 *
 * Each side has its own 4 MiB buffer followed by a PROT_NONE page; `place` is how many bytes of
 * optval are readable before it (PLACE_ALL: the data starts at the buffer, PLACE_NULL: optval is
 * NULL, PLACE_WILD: an address nothing is mapped at). After a case that changed a table (or
 * might have, on the helper), both tables are read back (GET_INFO, GET_ENTRIES) and compared,
 * and reset to the base table unless both still are it. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>

enum { KIND_BOTH, KIND_HELPER, KIND_HEALTH, KIND_SHORT_CLOSE };
enum { F_OWN_COUNTERS = 1, F_NULL_COUNTERS = 2 };
#define PLACE_ALL 0xffffffffu
#define PLACE_NULL 0xfffffffeu
#define PLACE_WILD 0xfffffffdu
#define WILD_ADDR ((uintptr_t)0x10000)
/* Helper status when the connection broke mid-request, or the helper could not be reached. */
#define HELPER_LOST INT32_MIN
#define HELPER_DOWN (INT32_MIN + 1)
#define CHECK_INFO 1u
#define CHECK_ENTRIES 2u
#define CHECK_RESET 4u
#define REGION (4u << 20)
#define COMPARE_MAX 65536u
#define COUNTERS_MAX 4096u

struct mbox_request {
	uint64_t addr;
	uint32_t len, is_set, cmd, pid;
};

struct op {
	uint32_t kind, is_set, cmd, optlen, datalen, place, flags, pid_mode, split;
};

static const char *sock_path;
static int helper_fd = -1, raw_fd;
static unsigned char *region[2]; /* [0] the kernel's, [1] the helper's */
static struct xt_counters *counters[2];
static unsigned char *base, *data;
static uint32_t base_len;

static int full_io(int fd, void *buf, size_t len, int writing)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = writing ? write(fd, (char *)buf + done, len - done)
				    : read(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

static void need(int fd, void *buf, size_t len)
{
	if (full_io(fd, buf, len, 0)) exit(0);
}

static int helper_connect(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strncpy(sa.sun_path, sock_path, sizeof sa.sun_path - 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) return fd;
	if (fd >= 0) close(fd);
	return -1;
}

static void helper_drop(void)
{
	if (helper_fd >= 0) close(helper_fd);
	helper_fd = -1;
}

/* One request (in two writes `split` bytes apart when split is 1..23); the reply's status. */
static int32_t helper_call(const struct mbox_request *req, uint32_t split)
{
	if (helper_fd < 0 && (helper_fd = helper_connect()) < 0) return HELPER_DOWN;
	int ok;
	if (split > 0 && split < sizeof *req) {
		ok = full_io(helper_fd, (void *)req, split, 1) == 0;
		usleep(200);
		ok = ok && full_io(helper_fd, (char *)req + split, sizeof *req - split, 1) == 0;
	} else {
		ok = full_io(helper_fd, (void *)req, sizeof *req, 1) == 0;
	}
	int32_t status;
	if (!ok || full_io(helper_fd, &status, sizeof status, 0)) {
		helper_drop();
		return HELPER_LOST;
	}
	return status;
}

static int32_t helper_sockopt(void *optval, uint32_t len, int is_set, int cmd)
{
	struct mbox_request req = { (uint64_t)(uintptr_t)optval, len, (uint32_t)is_set,
				    (uint32_t)cmd, (uint32_t)getpid() };
	return helper_call(&req, 0);
}

static int kernel_sockopt(void *optval, uint32_t len, int is_set, int cmd)
{
	socklen_t l = len;
	int r = is_set ? setsockopt(raw_fd, IPPROTO_IP, cmd, optval, l)
		       : getsockopt(raw_fd, IPPROTO_IP, cmd, optval, &l);
	return r == 0 ? 0 : errno;
}

/* The optval of side s for this op: the data placed as `place` says, the rest zeroed. */
static unsigned char *place_data(int s, const struct op *o, uint32_t *readable)
{
	if (o->place == PLACE_NULL) return *readable = 0, NULL;
	if (o->place == PLACE_WILD) return *readable = 0, (unsigned char *)WILD_ADDR;
	uint32_t avail = o->place == PLACE_ALL ? REGION : (o->place < REGION ? o->place : REGION);
	unsigned char *p = region[s] + REGION - avail;
	uint32_t span = o->optlen > o->datalen ? o->optlen : o->datalen;
	if (span > COMPARE_MAX) span = COMPARE_MAX;
	if (span > avail) span = avail;
	memset(p, 0, span);
	memcpy(p, data, o->datalen < avail ? o->datalen : avail);
	if (o->is_set && o->cmd == IPT_SO_SET_REPLACE && o->datalen >= sizeof(struct ipt_replace) &&
	    avail >= sizeof(struct ipt_replace) && (o->flags & (F_OWN_COUNTERS | F_NULL_COUNTERS))) {
		struct xt_counters *c = o->flags & F_OWN_COUNTERS ? counters[s] : NULL;
		memcpy(p + offsetof(struct ipt_replace, counters), &c, sizeof c);
		memset(counters[s], 0xaa, COUNTERS_MAX * sizeof *counters[s]);
	}
	*readable = span;
	return p;
}

static uint32_t pid_for(uint32_t mode)
{
	switch (mode) {
	case 0: return (uint32_t)getpid();
	case 1: return 1;
	case 2: return 0x7ffffff0u;
	case 3: return (uint32_t)getppid();
	default: return 0;
	}
}

/* Entries equal to the base table's but for their counters? */
static int base_but_counters(const unsigned char *e, uint32_t size)
{
	const struct ipt_replace *b = (const struct ipt_replace *)base;
	const unsigned char *be = base + sizeof *b;
	if (size != b->size) return 0;
	for (uint32_t o = 0; o < size;) {
		const struct ipt_entry *x = (const struct ipt_entry *)(be + o);
		uint32_t next = x->next_offset;
		if (next < sizeof *x || o + next > size) return 0;
		if (memcmp(e + o, be + o, offsetof(struct ipt_entry, counters)) ||
		    memcmp(e + o + sizeof *x, be + o + sizeof *x, next - sizeof *x))
			return 0;
		o += next;
	}
	return 1;
}

/* Adds minus the counters of `e` (the kernel's entries) to both sides: u64 arithmetic brings
 * them back to 0 without a replace (and the BPF apply it would cost the helper). */
static int zero_counters(const unsigned char *e, uint32_t size, uint32_t num)
{
	size_t len = sizeof(struct xt_counters_info) + num * sizeof(struct xt_counters);
	if (num > COUNTERS_MAX) return 0;
	int ok = 1;
	for (int s = 0; s < 2; s++) {
		struct xt_counters_info *ci = (struct xt_counters_info *)region[s];
		memset(ci, 0, sizeof *ci);
		strcpy(ci->name, "filter");
		ci->num_counters = num;
		uint32_t i = 0;
		for (uint32_t o = 0; o < size && i < num; i++) {
			const struct ipt_entry *x = (const struct ipt_entry *)(e + o);
			ci->counters[i].pcnt = -x->counters.pcnt;
			ci->counters[i].bcnt = -x->counters.bcnt;
			o += x->next_offset;
		}
		int r = s == 0 ? kernel_sockopt(ci, (uint32_t)len, 1, IPT_SO_SET_ADD_COUNTERS)
			       : helper_sockopt(ci, (uint32_t)len, 1, IPT_SO_SET_ADD_COUNTERS);
		ok = ok && r == 0;
	}
	return ok;
}

/* The table in the kernel and in the helper: equal? Then back to the base table with zero
 * counters, by ADD_COUNTERS when only counters moved, else by a replace on both sides. */
static uint32_t check_and_reset(int compare)
{
	struct ipt_getinfo info[2];
	uint32_t bits = 0;
	int ke, he;
	for (int s = 0; s < 2; s++) {
		memset(&info[s], 0, sizeof info[s]);
		strcpy(info[s].name, "filter");
	}
	ke = kernel_sockopt(&info[0], sizeof info[0], 0, IPT_SO_GET_INFO);
	he = helper_sockopt(&info[1], sizeof info[1], 0, IPT_SO_GET_INFO);
	if (he == HELPER_LOST || he == HELPER_DOWN) return 0;
	if (ke == 0 && he == 0 && memcmp(&info[0], &info[1], sizeof info[0]) == 0) bits |= CHECK_INFO;
	uint32_t size = info[0].size;
	if (compare && ke == 0 && size <= REGION / 2 - sizeof(struct ipt_get_entries)) {
		/* Read into the upper halves: zero_counters builds its request in the lower ones. */
		struct ipt_get_entries *g[2];
		for (int s = 0; s < 2; s++) {
			g[s] = (struct ipt_get_entries *)(region[s] + REGION / 2);
			memset(g[s], 0, sizeof *g[s] + size);
			strcpy(g[s]->name, "filter");
			g[s]->size = size;
		}
		ke = kernel_sockopt(g[0], sizeof *g[0] + size, 0, IPT_SO_GET_ENTRIES);
		he = helper_sockopt(g[1], sizeof *g[1] + size, 0, IPT_SO_GET_ENTRIES);
		if (ke == 0 && he == 0 && memcmp(g[0], g[1], sizeof *g[0] + size) == 0)
			bits |= CHECK_ENTRIES;
		if ((bits & CHECK_ENTRIES) && base_but_counters((const unsigned char *)g[0]->entrytable, size)) {
			if (memcmp(g[0]->entrytable, base + sizeof(struct ipt_replace), size) == 0 ||
			    zero_counters((const unsigned char *)g[0]->entrytable, size, info[0].num_entries))
				return bits | CHECK_RESET;
		}
	}
	uint32_t num[2] = { info[0].num_entries, info[1].num_entries };
	for (int s = 0; s < 2; s++) {
		memcpy(region[s], base, base_len);
		struct ipt_replace *r = (struct ipt_replace *)region[s];
		r->num_counters = num[s];
		r->counters = num[s] <= COUNTERS_MAX ? counters[s] : NULL;
	}
	int rk = kernel_sockopt(region[0], base_len, 1, IPT_SO_SET_REPLACE);
	int rh = helper_sockopt(region[1], base_len, 1, IPT_SO_SET_REPLACE);
	if (rk == 0 && rh == 0) bits |= CHECK_RESET;
	else fprintf(stderr, "fuzz-client: reset: kernel %d, helper %d\n", rk, rh);
	return bits;
}

static void run_case(uint32_t nops)
{
	int32_t out[3];
	int dirty = 0, lost = 0;
	for (uint32_t i = 0; i < nops; i++) {
		struct op o;
		need(0, &o, sizeof o);
		if (o.datalen > REGION) exit(2);
		need(0, data, o.datalen);
		uint32_t readable[2];
		unsigned char *p[2] = { place_data(0, &o, &readable[0]), place_data(1, &o, &readable[1]) };
		out[0] = -1;
		out[1] = 0;
		out[2] = 1;
		if (o.kind == KIND_BOTH) {
			out[0] = kernel_sockopt(p[0], o.optlen, (int)o.is_set, (int)o.cmd);
			if (o.is_set && out[0] == 0) dirty = 1;
		}
		if (o.kind == KIND_BOTH || o.kind == KIND_HELPER) {
			struct mbox_request req = { (uint64_t)(uintptr_t)p[1], o.optlen, o.is_set, o.cmd,
						    pid_for(o.pid_mode) };
			out[1] = helper_call(&req, o.split);
			/* A refused request must not have changed the helper's table: look. */
			if (o.kind == KIND_HELPER && o.is_set) dirty = 1;
		} else if (o.kind == KIND_HEALTH) {
			struct mbox_request req = { 0, 0, 0, 0, 0 };
			out[1] = helper_call(&req, 0);
		} else if (o.kind == KIND_SHORT_CLOSE) {
			struct mbox_request req = { (uint64_t)(uintptr_t)p[1], o.optlen, o.is_set, o.cmd,
						    (uint32_t)getpid() };
			if (helper_fd < 0) helper_fd = helper_connect();
			if (helper_fd >= 0) full_io(helper_fd, &req, o.split % sizeof req, 1);
			helper_drop();
		}
		if (out[1] == HELPER_LOST || out[1] == HELPER_DOWN) lost = 1;
		if (o.kind == KIND_BOTH && !o.is_set && out[0] == 0 && out[1] == 0 &&
		    readable[0] > 0)
			out[2] = memcmp(p[0], p[1], readable[0]) == 0;
		if (o.kind == KIND_BOTH && o.is_set && o.cmd == IPT_SO_SET_REPLACE &&
		    (o.flags & F_OWN_COUNTERS) && out[0] == 0 && out[1] == 0)
			out[2] = memcmp(counters[0], counters[1], COUNTERS_MAX * sizeof *counters[0]) == 0;
		fwrite(out, sizeof out, 1, stdout);
	}
	uint32_t tail[2] = { 0, 0 };
	if (dirty && !lost) {
		tail[0] = 1;
		tail[1] = check_and_reset(1);
	}
	fwrite(tail, sizeof tail, 1, stdout);
}

int main(int argc, char **argv)
{
	if (argc < 3) return 1;
	sock_path = argv[1];
	raw_fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (raw_fd < 0) { perror("socket"); return 1; }
	int ns = open(argv[2], O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNET)) { perror(argv[2]); return 1; }
	close(ns);
	for (int s = 0; s < 2; s++) {
		unsigned char *m = mmap(NULL, REGION + 4096, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED || mprotect(m + REGION, 4096, PROT_NONE)) { perror("mmap"); return 1; }
		region[s] = m;
		counters[s] = calloc(COUNTERS_MAX, sizeof *counters[s]);
	}
	data = malloc(REGION);
	for (;;) {
		uint32_t nops;
		need(0, &nops, sizeof nops);
		if (nops == 0xffffffffu) {
			need(0, &base_len, sizeof base_len);
			free(base);
			base = malloc(base_len);
			need(0, base, base_len);
			int32_t r = 0;
			fwrite(&r, sizeof r, 1, stdout);
		} else if (nops == 0xfffffffeu) {
			int32_t r = (int32_t)check_and_reset(0);
			fwrite(&r, sizeof r, 1, stdout);
		} else {
			run_case(nops);
		}
		fflush(stdout);
	}
}
