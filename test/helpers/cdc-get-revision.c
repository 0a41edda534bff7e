/* IPT_SO_GET_REVISION_{MATCH,TARGET} for each "kind name revision" line on stdin; prints the
 * getsockopt return value (the best revision) or -errno, one line each. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
int main(void) {
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) { perror("socket"); return 1; }
  char kind[16], name[64];
  int revision;
  while (scanf("%15s %63s %d", kind, name, &revision) == 3) {
    struct xt_get_revision rev;
    memset(&rev, 0, sizeof rev);
    if (strcmp(name, "-") != 0) strncpy(rev.name, name, sizeof rev.name - 1);
    rev.revision = (unsigned char)revision;
    socklen_t len = sizeof rev;
    int opt = strcmp(kind, "match") == 0 ? IPT_SO_GET_REVISION_MATCH : IPT_SO_GET_REVISION_TARGET;
    int r = getsockopt(fd, IPPROTO_IP, opt, &rev, &len);
    printf("%d\n", r < 0 ? -errno : r);
  }
  return 0;
}
