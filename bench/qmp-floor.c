/* qmp-floor: the least a client can do to hot-add or hot-remove a disk or
 * a NIC, for comparing kvm-hotplug against. No JSON library, no runtime
 * file, no checks: connect, negotiate, send the commands, wait for the
 * replies (and for DEVICE_DELETED on removal).
 *   qmp-floor SOCK add ID PATH SLOT
 *   qmp-floor SOCK remove ID
 *   qmp-floor SOCK nic-add ID SLOT MAC TAP
 *   qmp-floor SOCK nic-remove ID
 *   qmp-floor SOCK drive-add ID PATH SLOT   (Ganeti's way: add-fd, HMP
 *                                            drive_add, remove-fd)
 *   qmp-floor SOCK drive-remove ID          (device_del, HMP drive_del)
 * Prints the microseconds from device_del to DEVICE_DELETED on removal. */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char buf[1 << 20];
static size_t len;

static void die(const char *what)
{
	fprintf(stderr, "qmp-floor: %s\n", what);
	exit(1);
}

/* Reads until a line containing needle has arrived; consumes up to it. */
static void wait_for(int fd, const char *needle)
{
	for (;;) {
		char *hit = strstr(buf, needle), *nl;
		ssize_t n;

		if (hit != NULL && (nl = strchr(hit, '\n')) != NULL) {
			len -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, len + 1);
			return;
		}
		if (len + 1 >= sizeof(buf))
			die("buffer full");
		if ((n = read(fd, buf + len, sizeof(buf) - len - 1)) <= 0)
			die("monitor closed");
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\"error\"") != NULL)
			die(buf);
	}
}

/* Sends json, with passfd as SCM_RIGHTS if not -1, and waits for its reply. */
static void command_fd(int fd, const char *json, const char *id, int passfd)
{
	char idkey[64], cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)json, strlen(json) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (passfd >= 0) {
		struct cmsghdr *c;
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &passfd, sizeof(int));
	}
	if (sendmsg(fd, &mh, 0) != (ssize_t)strlen(json))
		die("sendmsg");
	snprintf(idkey, sizeof(idkey), "\"id\": \"%s\"", id);
	wait_for(fd, idkey);
}

static void command(int fd, const char *json, const char *id)
{
	command_fd(fd, json, id, -1);
}

static int open_tap(const char *name)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR);

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (fd == -1 || ioctl(fd, TUNSETIFF, &ifr) == -1)
		die("tap");
	return fd;
}

static void nic_add(int fd, char **argv)
{
	char cmd[1024];
	int tap = open_tap(argv[6]);

	command_fd(fd, "{\"execute\": \"getfd\", \"id\": \"g\", "
		   "\"arguments\": {\"fdname\": \"floorfd\"}}\n", "g", tap);
	close(tap);
	snprintf(cmd, sizeof(cmd), "{\"execute\": \"netdev_add\", \"id\": \"n\", "
		 "\"arguments\": {\"type\": \"tap\", \"id\": \"%s\", "
		 "\"fd\": \"floorfd\"}}\n", argv[3]);
	command(fd, cmd, "n");
	snprintf(cmd, sizeof(cmd), "{\"execute\": \"device_add\", \"id\": \"d\", "
		 "\"arguments\": {\"driver\": \"virtio-net-pci\", \"netdev\": \"%s\", "
		 "\"mac\": \"%s\", \"id\": \"%s\", \"bus\": \"pci.0\", "
		 "\"addr\": \"0x%x\"}}\n", argv[3], argv[5], argv[3], atoi(argv[4]));
	command(fd, cmd, "d");
}

/* A disk as Ganeti's hv_kvm adds it; the fd set's id is the slot's,
 * chosen here so that no reply needs parsing. */
static void drive_add(int fd, char **argv)
{
	char cmd[8192];
	int set = 1000 + atoi(argv[5]);
	int file = open(argv[4], O_RDWR);

	if (file == -1)
		die("open");
	snprintf(cmd, sizeof(cmd), "{\"execute\": \"add-fd\", \"id\": \"a\", "
		 "\"arguments\": {\"fdset-id\": %d}}\n", set);
	command_fd(fd, cmd, "a", file);
	close(file);
	snprintf(cmd, sizeof(cmd), "{\"execute\": \"human-monitor-command\", "
		 "\"id\": \"h\", \"arguments\": {\"command-line\": \"drive_add "
		 "dummy file=/dev/fdset/%d,if=none,id=%s,format=raw,"
		 "auto-read-only=off\"}}\n", set, argv[3]);
	command(fd, cmd, "h");
	snprintf(cmd, sizeof(cmd), "{\"execute\": \"remove-fd\", \"id\": \"r\", "
		 "\"arguments\": {\"fdset-id\": %d}}\n", set);
	command(fd, cmd, "r");
	snprintf(cmd, sizeof(cmd), "{\"execute\": \"device_add\", \"id\": \"d\", "
		 "\"arguments\": {\"driver\": \"virtio-blk-pci\", \"drive\": \"%s\", "
		 "\"id\": \"%s\", \"bus\": \"pci.0\", \"addr\": \"0x%x\"}}\n",
		 argv[3], argv[3], atoi(argv[5]));
	command(fd, cmd, "d");
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cmd[8192], ev[128];
	long long t0;
	int fd;

	if (argc < 4 || strlen(argv[1]) >= sizeof(sa.sun_path))
		die("usage: qmp-floor SOCK add ID PATH SLOT | remove ID | "
		    "nic-add ID SLOT MAC TAP | nic-remove ID");
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1)
		die("connect");
	wait_for(fd, "\"QMP\"");
	command(fd, "{\"execute\": \"qmp_capabilities\", \"id\": \"c\"}\n", "c");
	if (strcmp(argv[2], "add") == 0 && argc == 6) {
		snprintf(cmd, sizeof(cmd), "{\"execute\": \"blockdev-add\", \"id\": \"b\", "
			 "\"arguments\": {\"driver\": \"raw\", \"node-name\": \"%s\", "
			 "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}}\n",
			 argv[3], argv[4]);
		command(fd, cmd, "b");
		snprintf(cmd, sizeof(cmd), "{\"execute\": \"device_add\", \"id\": \"d\", "
			 "\"arguments\": {\"driver\": \"virtio-blk-pci\", \"drive\": \"%s\", "
			 "\"id\": \"%s\", \"bus\": \"pci.0\", \"addr\": \"0x%x\"}}\n",
			 argv[3], argv[3], atoi(argv[5]));
		command(fd, cmd, "d");
	} else if (strcmp(argv[2], "nic-add") == 0 && argc == 7) {
		nic_add(fd, argv);
	} else if (strcmp(argv[2], "drive-add") == 0 && argc == 6) {
		drive_add(fd, argv);
	} else if (strcmp(argv[2], "remove") == 0 ||
		   strcmp(argv[2], "drive-remove") == 0 ||
		   strcmp(argv[2], "nic-remove") == 0) {
		snprintf(cmd, sizeof(cmd), "{\"execute\": \"device_del\", \"id\": \"x\", "
			 "\"arguments\": {\"id\": \"%s\"}}\n", argv[3]);
		t0 = now_us();
		command(fd, cmd, "x");
		snprintf(ev, sizeof(ev), "\"device\": \"%s\"", argv[3]);
		wait_for(fd, ev);
		printf("%lld\n", now_us() - t0);
		if (strcmp(argv[2], "drive-remove") == 0)
			snprintf(cmd, sizeof(cmd), "{\"execute\": "
				 "\"human-monitor-command\", \"id\": \"y\", "
				 "\"arguments\": {\"command-line\": \"drive_del "
				 "%s\"}}\n", argv[3]);
		else if (strcmp(argv[2], "remove") == 0)
			snprintf(cmd, sizeof(cmd), "{\"execute\": \"blockdev-del\", "
				 "\"id\": \"y\", \"arguments\": {\"node-name\": "
				 "\"%s\"}}\n", argv[3]);
		else
			snprintf(cmd, sizeof(cmd), "{\"execute\": \"netdev_del\", "
				 "\"id\": \"y\", \"arguments\": {\"id\": \"%s\"}}\n",
				 argv[3]);
		command(fd, cmd, "y");
	} else {
		die("usage: qmp-floor SOCK add ID PATH SLOT | remove ID | "
		    "nic-add ID SLOT MAC TAP | nic-remove ID | "
		    "drive-add ID PATH SLOT | drive-remove ID");
	}
	close(fd);
	return 0;
}
