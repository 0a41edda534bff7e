// Packet I/O for the differential harness, one long-lived process for every namespace: sockets
// are opened inside a netns (setns first, a socket stays in the netns it was made in) and then
// driven by line commands on stdin, so a batch of thousands of packets costs no process spawns.
//
//   link <id> <netns> <ifname>   AF_PACKET socket on ifname, incoming frames only
//   raw <id> <netns>             IPPROTO_RAW socket (locally generated packets, IP_HDRINCL)
//   ct <id> <netns>              ctnetlink socket (flush conntrack)
//   send <id> <hex>              a frame on a link socket, an IP packet on a raw one
//   flush <id>                   delete every conntrack entry of that netns
//   drain <quiet_ms>             every frame queued on link sockets until none came for quiet_ms:
//                                "frame <id> <hex>" lines
//   sync                         "sent <id> <errno,errno,...>" per socket (0 = sent) for the sends
//                                since the last sync, then "ok"
//
// Commands other than send answer with one line ("ok", "err <text>") or the drain lines + "end".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

enum kind { LINK, RAW, CT };
struct sock {
	char id[32];
	enum kind kind;
	int fd;
	/** Each send's errno since the last sync (0 = sent), comma-separated. */
	char results[65536];
	size_t rlen;
};

static struct sock socks[64];
static int nsocks;

static struct sock *find(const char *id)
{
	for (int i = 0; i < nsocks; i++)
		if (strcmp(socks[i].id, id) == 0)
			return &socks[i];
	return NULL;
}

static int enter(const char *netns)
{
	char path[256];
	snprintf(path, sizeof(path), "/run/netns/%s", netns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = setns(fd, CLONE_NEWNET);
	close(fd);
	return r;
}

static int open_sock(const char *id, enum kind kind, const char *netns, const char *ifname)
{
	if (nsocks == (int)(sizeof(socks) / sizeof(socks[0])) || strlen(id) >= sizeof(socks[0].id))
		return -1;
	if (enter(netns) < 0)
		return -1;
	int fd;
	if (kind == LINK) {
		fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
		if (fd < 0)
			return -1;
		struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
		sll.sll_ifindex = (int)if_nametoindex(ifname);
		int one = 1, big = 8 << 20;
		if (sll.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
		    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0) {
			close(fd);
			return -1;
		}
	} else if (kind == RAW) {
		fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	} else {
		fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	}
	if (fd < 0)
		return -1;
	struct sock *s = &socks[nsocks++];
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->kind = kind;
	s->fd = fd;
	return 0;
}

static size_t unhex(const char *hex, unsigned char *out, size_t cap)
{
	size_t n = 0;
	while (hex[0] && hex[1] && n < cap) {
		unsigned v;
		if (sscanf(hex, "%2x", &v) != 1)
			break;
		out[n++] = (unsigned char)v;
		hex += 2;
	}
	return n;
}

static void result(struct sock *s, int err)
{
	if (s->rlen + 8 < sizeof(s->results))
		s->rlen += (size_t)snprintf(s->results + s->rlen, sizeof(s->results) - s->rlen, "%s%d",
					    s->rlen ? "," : "", err);
}

static void do_send(struct sock *s, const char *hex)
{
	static unsigned char buf[70000];
	size_t n = unhex(hex, buf, sizeof(buf));
	ssize_t r = -1;
	errno = EINVAL;
	if (s->kind == LINK) {
		r = send(s->fd, buf, n, 0);
	} else if (s->kind == RAW && n >= 20) {
		struct sockaddr_in dst = { .sin_family = AF_INET };
		memcpy(&dst.sin_addr, buf + 16, 4);
		r = sendto(s->fd, buf, n, 0, (struct sockaddr *)&dst, sizeof(dst));
	}
	result(s, r == (ssize_t)n ? 0 : errno);
}

/** IPCTNL_MSG_CT_DELETE with no tuple: the whole IPv4 table, acknowledged. */
static int ct_flush(struct sock *s)
{
	struct {
		struct nlmsghdr nh;
		struct nfgenmsg nf;
	} req = {
		.nh = { .nlmsg_len = sizeof(req),
			.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
			.nlmsg_seq = 1 },
		.nf = { .nfgen_family = AF_INET, .version = NFNETLINK_V0 },
	};
	if (send(s->fd, &req, sizeof(req), 0) < 0)
		return -1;
	char buf[4096];
	ssize_t n = recv(s->fd, buf, sizeof(buf), 0);
	if (n < (ssize_t)(sizeof(struct nlmsghdr) + sizeof(int)))
		return -1;
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	if (h->nlmsg_type != NLMSG_ERROR)
		return -1;
	int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
	if (err != 0 && err != -ENOENT) {
		errno = -err;
		return -1;
	}
	return 0;
}

static void drain(int quiet_ms)
{
	static unsigned char buf[70000];
	struct pollfd pfd[64];
	int map[64], n = 0;
	for (int i = 0; i < nsocks; i++) {
		if (socks[i].kind != LINK)
			continue;
		pfd[n] = (struct pollfd){ .fd = socks[i].fd, .events = POLLIN };
		map[n++] = i;
	}
	while (poll(pfd, (nfds_t)n, quiet_ms) > 0) {
		for (int k = 0; k < n; k++) {
			if (!(pfd[k].revents & POLLIN))
				continue;
			ssize_t len;
			while ((len = recv(pfd[k].fd, buf, sizeof(buf), 0)) > 0) {
				printf("frame %s ", socks[map[k]].id);
				for (ssize_t j = 0; j < len; j++)
					printf("%02x", buf[j]);
				putchar('\n');
			}
		}
	}
	printf("end\n");
}

static void answer(int r, const char *what)
{
	if (r == 0)
		printf("ok\n");
	else
		printf("err %s %s\n", what, strerror(errno));
}

int main(void)
{
	static char line[160000];
	setvbuf(stdout, NULL, _IOFBF, 1 << 20);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		char *save = NULL;
		char *cmd = strtok_r(line, " ", &save);
		char *a = strtok_r(NULL, " ", &save);
		char *b = strtok_r(NULL, " ", &save);
		char *c = strtok_r(NULL, " ", &save);
		if (cmd == NULL)
			continue;
		if (strcmp(cmd, "send") == 0 && a && b) {
			struct sock *s = find(a);
			if (s)
				do_send(s, b);
			continue;
		}
		if (strcmp(cmd, "link") == 0 && a && b && c)
			answer(open_sock(a, LINK, b, c), cmd);
		else if (strcmp(cmd, "raw") == 0 && a && b)
			answer(open_sock(a, RAW, b, NULL), cmd);
		else if (strcmp(cmd, "ct") == 0 && a && b)
			answer(open_sock(a, CT, b, NULL), cmd);
		else if (strcmp(cmd, "flush") == 0 && a) {
			struct sock *s = find(a);
			errno = ENOENT;
			answer(s ? ct_flush(s) : -1, cmd);
		} else if (strcmp(cmd, "drain") == 0 && a)
			drain(atoi(a));
		else if (strcmp(cmd, "sync") == 0) {
			for (int i = 0; i < nsocks; i++) {
				if (socks[i].rlen)
					printf("sent %s %s\n", socks[i].id, socks[i].results);
				socks[i].rlen = 0;
				socks[i].results[0] = 0;
			}
			printf("ok\n");
		} else
			printf("err unknown command\n");
		fflush(stdout);
	}
	return 0;
}
