// Sends Ethernet frames on an interface with AF_PACKET and prints the frames that arrive there
// (incoming only) for a while: `cdc-pktio IFNAME WAIT_MS < hex-frames`, one hex frame per line;
// each received frame is printed as one hex line. A sender without an IP address sees only
// what it crafted and what came back.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s IFNAME WAIT_MS\n", argv[0]);
    return 2;
  }
  int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
  if (fd < 0) { perror("socket"); return 1; }
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = if_nametoindex(argv[1]);
  if (!sll.sll_ifindex) { perror("if_nametoindex"); return 1; }
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { perror("bind"); return 1; }
  static char line[1 << 17];
  static unsigned char frame[1 << 16];
  while (fgets(line, sizeof line, stdin)) {
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (!n) continue;
    size_t len = n / 2;
    for (size_t i = 0; i < len; i++) sscanf(line + 2 * i, "%2hhx", &frame[i]);
    if (send(fd, frame, len, 0) != (ssize_t)len) { perror("send"); return 1; }
  }
  long end = now_ms() + atol(argv[2]);
  for (long left; (left = end - now_ms()) > 0;) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, (int)left) <= 0) continue;
    struct sockaddr_ll from;
    socklen_t fl = sizeof from;
    ssize_t r = recvfrom(fd, frame, sizeof frame, 0, (struct sockaddr *)&from, &fl);
    if (r < 0) continue;
    if (from.sll_pkttype == PACKET_OUTGOING) continue;
    for (ssize_t i = 0; i < r; i++) printf("%02x", frame[i]);
    printf("\n");
  }
  return 0;
}
