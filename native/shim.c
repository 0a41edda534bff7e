// LD_PRELOAD shim for kernels without the bpfilter module: iptables' IPT_SO_* sockopts on raw
// IPv4 sockets go to the bpfilter daemon as 24-byte mbox requests; the daemon reads and writes
// our memory itself and answers with a status. Everything else goes to libc untouched.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define IPT_BASE_CTL 64
#define IPT_SO_SET_MAX (IPT_BASE_CTL + 1)
#define IPT_SO_GET_MAX (IPT_BASE_CTL + 3)
#define DEFAULT_SOCKET "/run/bpfilter/bpfilter.sock"
#define TABLES_FILE "/proc/net/ip_tables_names"
/* The tables the helper serves, as /proc/net/ip_tables_names lists them. */
#define TABLES_TEXT "filter\n"

struct mbox_request {
	uint64_t addr;
	uint32_t len;
	uint32_t is_set;
	uint32_t cmd;
	uint32_t pid;
};

struct mbox_reply {
	uint32_t status;
};

_Static_assert(sizeof(struct mbox_request) == 24, "mbox_request is 24 bytes");

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int daemon_fd = -1;

static int (*real_getsockopt)(int, int, int, void *, socklen_t *);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
static FILE *(*real_fopen)(const char *, const char *);
static FILE *(*real_fopen64)(const char *, const char *);
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);

static void *next_sym(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p) {
		fprintf(stderr, "bpfilter shim: %s not found\n", name);
		abort();
	}
	return p;
}

static int is_raw_ipv4(int fd)
{
	int domain = 0, type = 0;
	socklen_t len = sizeof(domain);
	if (!real_getsockopt)
		real_getsockopt = next_sym("getsockopt");
	if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return 0;
	len = sizeof(type);
	if (real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return 0;
	return domain == AF_INET && type == SOCK_RAW;
}

static int full_io(int fd, void *buf, size_t len, int writing)
{
	size_t done = 0;
	while (done < len) {
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

static const char *socket_path(void)
{
	const char *path = getenv("BPFILTER_SOCKET");
	return path && *path ? path : DEFAULT_SOCKET;
}

static int connect_daemon(void)
{
	const char *path = socket_path();
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* One request, one reply; returns the status (>= 0) or -errno. */
static int forward(void *optval, uint32_t len, int is_set, int cmd)
{
	struct mbox_request req = {
		.addr = (uint64_t)(uintptr_t)optval,
		.len = len,
		.is_set = (uint32_t)is_set,
		.cmd = (uint32_t)cmd,
		.pid = (uint32_t)getpid(),
	};
	struct mbox_reply rep;
	int status;

	pthread_mutex_lock(&lock);
	for (int attempt = 0; attempt < 2; attempt++) {
		if (daemon_fd < 0)
			daemon_fd = connect_daemon();
		if (daemon_fd < 0) {
			status = -errno;
			/* Never the kernel's own tables instead: the rules would not be ours. */
			fprintf(stderr,
				"bpfilter shim: cannot reach the bpfilter daemon at %s: %s "
				"(start it: systemctl start bpfilter, or bpfilter daemon)\n",
				socket_path(), strerror(errno));
			/* As iptables sees a kernel without ip_tables. */
			status = -ENOPROTOOPT;
			break;
		}
		if (full_io(daemon_fd, &req, sizeof(req), 1) == 0 &&
		    full_io(daemon_fd, &rep, sizeof(rep), 0) == 0) {
			status = (int32_t)rep.status;
			goto out;
		}
		/* A daemon restart closes our connection: reconnect once. */
		close(daemon_fd);
		daemon_fd = -1;
		status = -EIO;
	}
out:
	pthread_mutex_unlock(&lock);
	return status;
}

int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	if (!real_getsockopt)
		real_getsockopt = next_sym("getsockopt");
	if (level == IPPROTO_IP && optname >= IPT_BASE_CTL && optname <= IPT_SO_GET_MAX && optlen &&
	    is_raw_ipv4(fd)) {
		int status = forward(optval, *optlen, 0, optname);
		if (status < 0) {
			errno = -status;
			return -1;
		}
		if (status > 0)
			*optlen = (socklen_t)status;
		return 0;
	}
	return real_getsockopt(fd, level, optname, optval, optlen);
}

int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	if (!real_setsockopt)
		real_setsockopt = next_sym("setsockopt");
	if (level == IPPROTO_IP && optname >= IPT_BASE_CTL && optname <= IPT_SO_SET_MAX &&
	    is_raw_ipv4(fd)) {
		int status = forward((void *)optval, optlen, 1, optname);
		if (status < 0) {
			errno = -status;
			return -1;
		}
		return 0;
	}
	return real_setsockopt(fd, level, optname, optval, optlen);
}

/* libxtables and iptables-save read the table list here; the kernel's would list its own. */
static int tables_fd(void)
{
	int fd = memfd_create("ip_tables_names", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (full_io(fd, TABLES_TEXT, strlen(TABLES_TEXT), 1) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

FILE *fopen(const char *path, const char *mode)
{
	if (!real_fopen)
		real_fopen = next_sym("fopen");
	if (strcmp(path, TABLES_FILE) == 0) {
		int fd = tables_fd();
		return fd < 0 ? NULL : fdopen(fd, "r");
	}
	return real_fopen(path, mode);
}

FILE *fopen64(const char *path, const char *mode)
{
	if (!real_fopen64)
		real_fopen64 = next_sym("fopen64");
	if (strcmp(path, TABLES_FILE) == 0) {
		int fd = tables_fd();
		return fd < 0 ? NULL : fdopen(fd, "r");
	}
	return real_fopen64(path, mode);
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	if (!real_open)
		real_open = next_sym("open");
	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	if (strcmp(path, TABLES_FILE) == 0)
		return tables_fd();
	return real_open(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;
	if (!real_open64)
		real_open64 = next_sym("open64");
	va_start(ap, flags);
	mode = mode_arg(flags, ap);
	va_end(ap);
	if (strcmp(path, TABLES_FILE) == 0)
		return tables_fd();
	return real_open64(path, flags, mode);
}
