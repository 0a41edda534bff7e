/* Reads an ipt_replace blob on stdin and hands it to the kernel's IPT_SO_SET_REPLACE; prints the
 * errno (0 on success). With "auto", num_counters is first set to the live entry count so only
 * the blob decides. The counters pointer is pointed at a buffer of ours. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
int main(int argc, char **argv) {
  static unsigned char buf[1 << 20];
  size_t len = fread(buf, 1, sizeof buf, stdin);
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) { perror("socket"); return 1; }
  struct ipt_replace *r = (struct ipt_replace *)buf;
  if (len >= sizeof *r) {
    if (argc > 1 && strcmp(argv[1], "auto") == 0) {
      struct ipt_getinfo info; memset(&info, 0, sizeof info);
      strcpy(info.name, "filter");
      socklen_t il = sizeof info;
      if (getsockopt(fd, IPPROTO_IP, IPT_SO_GET_INFO, &info, &il)) { perror("GET_INFO"); return 1; }
      r->num_counters = info.num_entries;
    }
    if (r->num_counters < (1u << 20)) r->counters = calloc(r->num_counters + 1, sizeof(struct xt_counters));
  }
  int rc = setsockopt(fd, IPPROTO_IP, IPT_SO_SET_REPLACE, buf, (socklen_t)len);
  printf("%d\n", rc == 0 ? 0 : errno);
  return 0;
}
