// Started by bpfilter.ko through call_usermodehelper: puts the module's device on fds 0 and 1,
// the log file on fd 2, and execs the helper, which then reads mbox requests on stdin and writes
// replies on stdout just as it would on the pipes of a user-mode driver.
// usage: umh-launch DEVICE LOGFILE COMMAND [ARGS...]
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Makes target a copy of fd that survives exec. */
static int place(int fd, int target)
{
	if (fd == target)
		return fcntl(fd, F_SETFD, 0);
	return dup2(fd, target) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	int dev, log;

	if (argc < 4) {
		fprintf(stderr, "usage: %s DEVICE LOGFILE COMMAND [ARGS...]\n", argv[0]);
		return 2;
	}
	log = open(argv[2], O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (log < 0)
		log = open("/dev/null", O_WRONLY);
	if (log < 0 || place(log, 2) < 0)
		return 1;
	if (log != 2)
		close(log);
	dev = open(argv[1], O_RDWR);
	if (dev < 0) {
		fprintf(stderr, "umh-launch: open %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (place(dev, 0) < 0 || place(dev, 1) < 0) {
		fprintf(stderr, "umh-launch: dup2: %s\n", strerror(errno));
		return 1;
	}
	if (dev > 1)
		close(dev);
	execvp(argv[3], argv + 3);
	fprintf(stderr, "umh-launch: exec %s: %s\n", argv[3], strerror(errno));
	return 127;
}
