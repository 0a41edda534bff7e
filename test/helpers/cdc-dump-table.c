#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netfilter_ipv4/ip_tables.h>
static void hex(const unsigned char *p, size_t n) { for (size_t i = 0; i < n; i++) printf("%02x", p[i]); printf("\n"); }
int main(int argc, char **argv) {
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) { perror("socket"); return 1; }
  struct ipt_getinfo info; memset(&info, 0, sizeof info);
  strncpy(info.name, argc > 1 ? argv[1] : "filter", sizeof info.name - 1);
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_IP, IPT_SO_GET_INFO, &info, &len)) { perror("GET_INFO"); return 1; }
  hex((unsigned char *)&info, sizeof info);
  len = sizeof(struct ipt_get_entries) + info.size;
  struct ipt_get_entries *e = calloc(1, len);
  strcpy(e->name, info.name); e->size = info.size;
  if (getsockopt(fd, IPPROTO_IP, IPT_SO_GET_ENTRIES, e, &len)) { perror("GET_ENTRIES"); return 1; }
  hex((unsigned char *)e->entrytable, info.size);
  return 0;
}
