/* Sends stdin as optval of one iptables sockopt (optlen = its length) and prints the errno
 * (0 on success). argv[1]: info | entries | add | revmatch | revtarget. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
int main(int argc, char **argv) {
  static unsigned char buf[1 << 20];
  size_t len = fread(buf, 1, sizeof buf, stdin);
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0 || argc < 2) return 1;
  socklen_t l = (socklen_t)len;
  int r;
  if (strcmp(argv[1], "add") == 0) r = setsockopt(fd, IPPROTO_IP, IPT_SO_SET_ADD_COUNTERS, buf, l);
  else if (strcmp(argv[1], "info") == 0) r = getsockopt(fd, IPPROTO_IP, IPT_SO_GET_INFO, buf, &l);
  else if (strcmp(argv[1], "entries") == 0) r = getsockopt(fd, IPPROTO_IP, IPT_SO_GET_ENTRIES, buf, &l);
  else if (strcmp(argv[1], "revmatch") == 0) r = getsockopt(fd, IPPROTO_IP, IPT_SO_GET_REVISION_MATCH, buf, &l);
  else r = getsockopt(fd, IPPROTO_IP, IPT_SO_GET_REVISION_TARGET, buf, &l);
  printf("%d\n", r < 0 ? errno : 0);
  return 0;
}
