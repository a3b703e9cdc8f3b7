/* tap.c against the real kernel, in a network namespace of its own (so
 * root is needed): taps, queues, bridges, vhost modes, and the ifup
 * scripts run with a deadline. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../clock.h"
#include "../tap.h"
#include "check_run.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

/* Scripts that must be cut off outlive every bound (sleep 600), so that
 * a deadline that did not work shows as a hang or a wrong outcome, not
 * as a race. */

/* The kernel may unregister a closed tap a little later. */
static bool gone_in_time(const char *name)
{
	int64_t deadline = clock_ms() + HANG_MS;

	while (if_nametoindex(name) != 0) {
		if (clock_ms() > deadline)
			return false;
		sleep_ms(10);
	}
	return true;
}

static int count_ifs(void)
{
	struct if_nameindex *ifs = if_nameindex();
	int n = 0;

	ck_assert_ptr_nonnull(ifs);
	while (ifs[n].if_index != 0)
		n++;
	if_freenameindex(ifs);
	return n;
}

static bool ifs_back_to(int n)
{
	int64_t deadline = clock_ms() + HANG_MS;

	while (count_ifs() != n) {
		if (clock_ms() > deadline)
			return false;
		sleep_ms(10);
	}
	return true;
}

static int if_ioctl(unsigned long request, void *arg)
{
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc;

	ck_assert_int_ge(s, 0);
	rc = ioctl(s, request, arg);
	close(s);
	return rc;
}

static void bridge_add(const char *name)
{
	char br[IFNAMSIZ];

	snprintf(br, sizeof(br), "%s", name);
	ck_assert_msg(if_ioctl(SIOCBRADDBR, br) == 0, "SIOCBRADDBR %s: %s",
		      name, strerror(errno));
}

static void bridge_del(const char *name)
{
	char br[IFNAMSIZ];

	snprintf(br, sizeof(br), "%s", name);
	ck_assert_msg(if_ioctl(SIOCBRDELBR, br) == 0, "SIOCBRDELBR %s: %s",
		      name, strerror(errno));
}

static short if_flags(const char *name)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ck_assert_int_eq(if_ioctl(SIOCGIFFLAGS, &ifr), 0);
	return ifr.ifr_flags;
}

/* What the kernel says about the tap behind fd: its name and flags. */
static short tun_info(int fd, char name[IFNAMSIZ])
{
	struct ifreq ifr = { 0 };

	ck_assert_int_eq(ioctl(fd, TUNGETIFF, &ifr), 0);
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	return ifr.ifr_flags;
}

static void assert_closed(const struct tap *t)
{
	for (int i = 0; i < TAP_MAX_QUEUES; i++) {
		ck_assert_int_eq(t->fds[i], -1);
		ck_assert_int_eq(t->vhostfds[i], -1);
	}
}

START_TEST(open_named)
{
	struct error e = { 0 };
	char name[IFNAMSIZ];
	struct tap t;
	short flags;

	ck_assert_msg(tap_open(&t, "kh-named", 1, &e) == KH_OK, "%s", e.msg);
	ck_assert_str_eq(t.name, "kh-named");
	ck_assert_int_eq(t.queues, 1);
	ck_assert_int_ge(t.fds[0], 0);
	ck_assert_int_eq(t.fds[1], -1);
	ck_assert_int_eq(t.vhostfds[0], -1);
	ck_assert_uint_ne(if_nametoindex("kh-named"), 0);
	ck_assert(t.vnet_hdr);
	flags = tun_info(t.fds[0], name);
	ck_assert_str_eq(name, "kh-named");
	ck_assert(flags & IFF_TAP);
	ck_assert(flags & IFF_NO_PI);
	ck_assert(flags & IFF_VNET_HDR);
	ck_assert(!(flags & IFF_MULTI_QUEUE));
	ck_assert_int_eq(fcntl(t.fds[0], F_GETFD), FD_CLOEXEC);
	tap_close(&t);
}
END_TEST

START_TEST(open_kernel_named)
{
	struct error e = { 0 };
	char name[IFNAMSIZ];
	struct tap t;

	ck_assert_msg(tap_open(&t, NULL, 2, &e) == KH_OK, "%s", e.msg);
	ck_assert_msg(strncmp(t.name, "tap", 3) == 0, "name %s", t.name);
	ck_assert_ptr_null(strchr(t.name, '%'));
	ck_assert_uint_ne(if_nametoindex(t.name), 0);
	for (int i = 0; i < 2; i++) {
		tun_info(t.fds[i], name);
		ck_assert_str_eq(name, t.name);
	}
	snprintf(name, sizeof(name), "%s", t.name);
	tap_close(&t);
	ck_assert(gone_in_time(name));
}
END_TEST

START_TEST(open_multiqueue)
{
	struct error e = { 0 };
	char name[IFNAMSIZ];
	struct tap t;

	ck_assert_msg(tap_open(&t, "kh-mq", 4, &e) == KH_OK, "%s", e.msg);
	ck_assert_int_eq(t.queues, 4);
	for (int i = 0; i < 4; i++) {
		short flags = tun_info(t.fds[i], name);

		ck_assert_str_eq(name, "kh-mq");
		ck_assert(flags & IFF_MULTI_QUEUE);
		ck_assert(flags & IFF_VNET_HDR);
		ck_assert_int_eq(fcntl(t.fds[i], F_GETFD), FD_CLOEXEC);
		for (int j = 0; j < i; j++)
			ck_assert_int_ne(t.fds[i], t.fds[j]);
	}
	ck_assert_int_eq(t.fds[4], -1);
	tap_close(&t);
	ck_assert(gone_in_time("kh-mq"));
}
END_TEST

START_TEST(bad_queues_and_names_refused)
{
	static const int queues[] = { 0, -1, TAP_MAX_QUEUES + 1, 1000 };
	static const char *const names[] = { "", "a/b", "x234567890123456" };
	struct error e = { 0 };
	struct tap t;

	for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++) {
		ck_assert_int_eq(tap_open(&t, "kh-q", queues[i], &e), KH_EUSAGE);
		ck_assert_ptr_nonnull(strstr(e.msg, "queues"));
		assert_closed(&t);
	}
	ck_assert_uint_eq(if_nametoindex("kh-q"), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		ck_assert_int_eq(tap_open(&t, names[i], 1, &e), KH_EUSAGE);
		ck_assert_ptr_nonnull(strstr(e.msg, "invalid tap name"));
		assert_closed(&t);
	}
	/* The largest count is fine. */
	ck_assert_msg(tap_open(&t, NULL, TAP_MAX_QUEUES, &e) == KH_OK, "%s",
		      e.msg);
	ck_assert_int_ge(t.fds[TAP_MAX_QUEUES - 1], 0);
	tap_close(&t);
}
END_TEST

/* Refuses a name that exists and leaves that interface as it was. */
static void assert_refused(const char *name, int queues)
{
	unsigned int index = if_nametoindex(name);
	short flags = if_flags(name);
	struct error e = { 0 };
	struct tap t;

	ck_assert_uint_ne(index, 0);
	ck_assert_int_eq(tap_open(&t, name, queues, &e), KH_EFAIL);
	ck_assert_msg(strstr(e.msg, "already exists") && strstr(e.msg, name),
		      "%s", e.msg);
	assert_closed(&t);
	ck_assert_uint_eq(if_nametoindex(name), index);
	ck_assert_int_eq(if_flags(name), flags);
}

START_TEST(existing_name_refused)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	struct error e = { 0 };
	char name[IFNAMSIZ];
	struct tap own, mq;
	int fd;

	ck_assert_msg(tap_open(&own, "kh-own", 1, &e) == KH_OK, "%s", e.msg);
	ck_assert_msg(tap_open(&mq, "kh-own-mq", 2, &e) == KH_OK, "%s", e.msg);
	assert_refused("kh-own", 1);
	/* Same flags: without IFF_TUN_EXCL these would join it. */
	assert_refused("kh-own-mq", 2);
	assert_refused("lo", 1);
	/* A persistent tap nobody holds would be taken over. */
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "kh-persist");
	ck_assert_int_ge(fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), 0);
	ck_assert_int_eq(ioctl(fd, TUNSETIFF, &ifr), 0);
	ck_assert_int_eq(ioctl(fd, TUNSETPERSIST, 1), 0);
	close(fd);
	assert_refused("kh-persist", 1);
	ck_assert_int_ge(fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), 0);
	ck_assert_int_eq(ioctl(fd, TUNSETIFF, &ifr), 0);
	ck_assert_int_eq(ioctl(fd, TUNSETPERSIST, 0), 0);
	close(fd);
	ck_assert(gone_in_time("kh-persist"));
	/* The taps refused above still work. */
	tun_info(own.fds[0], name);
	ck_assert_str_eq(name, "kh-own");
	tun_info(mq.fds[1], name);
	ck_assert_str_eq(name, "kh-own-mq");
	tap_close(&own);
	tap_close(&mq);
}
END_TEST

START_TEST(close_removes_tap)
{
	struct error e = { 0 };
	int before = count_fds();
	struct tap t;

	ck_assert_msg(tap_open(&t, "kh-close", 3, &e) == KH_OK, "%s", e.msg);
	ck_assert_int_eq(count_fds(), before + 3);
	tap_close(&t);
	assert_closed(&t);
	ck_assert_int_eq(count_fds(), before);
	ck_assert(gone_in_time("kh-close"));
	tap_close(&t);
	assert_closed(&t);
	/* The name is free again. */
	ck_assert_msg(tap_open(&t, "kh-close", 1, &e) == KH_OK, "%s", e.msg);
	tap_close(&t);
}
END_TEST

/* Lowers RLIMIT_NOFILE so that exactly n more fds can be opened. */
static rlim_t allow_fds(int n)
{
	struct rlimit rl;
	rlim_t old;
	int fd;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	old = rl.rlim_cur;
	for (fd = 0; n > 0; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF)
			n--;
	rl.rlim_cur = (rlim_t)fd;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	return old;
}

static void restore_fds(rlim_t old)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = old;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Queue 3 of 4 cannot be opened: the two before are closed, and with
 * them the tap is gone. */
START_TEST(failed_open_leaves_nothing)
{
	static const char *const names[] = { "kh-fail", NULL };
	struct error e = { 0 };
	int before = count_fds(), ifs = count_ifs();
	struct tap t;
	rlim_t old;
	int rc;

	for (size_t i = 0; i < 2; i++) {
		old = allow_fds(2);
		rc = tap_open(&t, names[i], 4, &e);
		restore_fds(old);
		ck_assert_int_eq(rc, KH_EFAIL);
		ck_assert_msg(strstr(e.msg, "Too many open files"), "%s", e.msg);
		assert_closed(&t);
		ck_assert_int_eq(t.queues, 0);
		ck_assert_int_eq(count_fds(), before);
		ck_assert(ifs_back_to(ifs));
	}
}
END_TEST

START_TEST(up)
{
	struct error e = { 0 };
	struct tap t;

	ck_assert_msg(tap_open(&t, "kh-up", 1, &e) == KH_OK, "%s", e.msg);
	ck_assert(!(if_flags("kh-up") & IFF_UP));
	ck_assert_msg(tap_up(&t, &e) == KH_OK, "%s", e.msg);
	ck_assert(if_flags("kh-up") & IFF_UP);
	tap_close(&t);
	ck_assert_int_eq(tap_up(&t, &e), KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "kh-up"));
}
END_TEST

START_TEST(check_bridge)
{
	struct error e = { 0 };
	struct tap t;

	bridge_add("kh-br");
	ck_assert_msg(tap_check_bridge("kh-br", &e) == KH_OK, "%s", e.msg);
	ck_assert_int_eq(tap_check_bridge("kh-nobr", &e), KH_EUSAGE);
	ck_assert_str_eq(e.msg, "bridge kh-nobr does not exist");
	ck_assert_int_eq(tap_check_bridge("lo", &e), KH_EUSAGE);
	ck_assert_str_eq(e.msg, "lo is not a bridge");
	ck_assert_msg(tap_open(&t, "kh-notbr", 1, &e) == KH_OK, "%s", e.msg);
	ck_assert_int_eq(tap_check_bridge("kh-notbr", &e), KH_EUSAGE);
	ck_assert_str_eq(e.msg, "kh-notbr is not a bridge");
	tap_close(&t);
	ck_assert_int_eq(tap_check_bridge("kh/br", &e), KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "invalid bridge name"));
	ck_assert_int_eq(tap_check_bridge("kh-br-very-long-name", &e),
			 KH_EUSAGE);
	bridge_del("kh-br");
}
END_TEST

START_TEST(enslave)
{
	struct error e = { 0 };
	char master[64];
	struct tap t;
	ssize_t n;

	bridge_add("kh-br2");
	ck_assert_msg(tap_open(&t, "kh-port", 1, &e) == KH_OK, "%s", e.msg);
	ck_assert_msg(tap_enslave(&t, "kh-br2", &e) == KH_OK, "%s", e.msg);
	n = readlink("/sys/class/net/kh-port/master", master,
		     sizeof(master) - 1);
	ck_assert_int_gt(n, 0);
	master[n] = '\0';
	ck_assert_str_eq(master, "../kh-br2");
	ck_assert_int_eq(tap_enslave(&t, "kh-nobr", &e), KH_EFAIL);
	ck_assert_msg(strstr(e.msg, "kh-port") && strstr(e.msg, "kh-nobr"),
		      "%s", e.msg);
	ck_assert_int_eq(tap_enslave(&t, "lo", &e), KH_EFAIL);
	ck_assert_int_eq(tap_enslave(&t, "a/b", &e), KH_EUSAGE);
	tap_close(&t);
	ck_assert(gone_in_time("kh-port"));
	bridge_del("kh-br2");
}
END_TEST

/* The answers depend on whether this host has vhost-net; both kinds of
 * host are checked for what they must give. */
START_TEST(vhost_modes)
{
	bool have = access("/dev/vhost-net", F_OK) == 0, used = true;
	struct error e = { 0 };
	struct tap t;

	ck_assert_msg(tap_open(&t, "kh-vhost", 2, &e) == KH_OK, "%s", e.msg);
	ck_assert_int_eq(tap_open_vhost(&t, "off", &used, &e), KH_OK);
	ck_assert(!used);
	ck_assert_int_eq(t.vhostfds[0], -1);
	used = true;
	ck_assert_int_eq(tap_open_vhost(&t, "maybe", &used, &e), KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "maybe"));
	ck_assert(!used);
	ck_assert_int_eq(tap_open_vhost(&t, "", &used, &e), KH_EUSAGE);
	ck_assert_int_eq(tap_open_vhost(&t, "ON", &used, &e), KH_EUSAGE);
	ck_assert_int_eq(tap_open_vhost(&t, "auto", &used, &e), KH_OK);
	ck_assert(used == have);
	if (have) {
		ck_assert_int_ge(t.vhostfds[1], 0);
		tap_close(&t);
		ck_assert_msg(tap_open(&t, "kh-vhost", 2, &e) == KH_OK, "%s",
			      e.msg);
	} else {
		ck_assert_int_eq(t.vhostfds[0], -1);
	}
	if (have) {
		ck_assert_int_eq(tap_open_vhost(&t, "on", &used, &e), KH_OK);
		ck_assert(used);
	} else {
		ck_assert_int_eq(tap_open_vhost(&t, "on", &used, &e),
				 KH_ENOHOTPLUG);
		ck_assert_str_eq(e.msg, "vhost-net is not available "
				 "(/dev/vhost-net: No such file or directory)");
		ck_assert(!used);
		ck_assert_int_eq(t.vhostfds[0], -1);
	}
	tap_close(&t);
	assert_closed(&t);
}
END_TEST

/* Scripts live in a temporary directory per test. */
static char dir[] = "/tmp/test_tap.XXXXXX";

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_tap.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			ck_assert_int_eq(unlinkat(dirfd(d), de->d_name, 0), 0);
	closedir(d);
	ck_assert_int_eq(rmdir(dir), 0);
}

/* Writes dir/name, a shell script unless body starts with "#!"; every
 * "@" in body becomes dir. */
static const char *write_script(const char *name, const char *body,
				mode_t mode)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	if (strncmp(body, "#!", 2) != 0)
		fputs("#!/bin/sh\n", f);
	for (; *body; body++)
		if (*body == '@')
			fputs(dir, f);
		else
			fputc(*body, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static void read_file(const char *name, char *buf, size_t size)
{
	char path[128];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_msg((f = fopen(path, "r")) != NULL, "%s: %s", path,
		      strerror(errno));
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void assert_no_child(void)
{
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

static const char env_script[] =
	"printf '%s\\n' \"$#\" \"$1\" > @/args\n"
	"env > @/env\n"
	"for f in /proc/$$/fd/*; do readlink \"$f\"; done > @/fds\n"
	"readlink /proc/$$/fd/0 > @/stdin\n";

/* Checks that dir/env holds exactly the variables in want (and what
 * the shell itself adds). */
static void assert_env(const char *const want[])
{
	char env[4096], *line, *save;
	size_t nwant = 0, seen = 0;

	read_file("env", env, sizeof(env));
	while (want[nwant] != NULL)
		nwant++;
	for (line = strtok_r(env, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		bool found = false;

		for (size_t i = 0; i < nwant; i++)
			found = found || strcmp(line, want[i]) == 0;
		if (found)
			seen++;
		else
			ck_assert_msg(strncmp(line, "PWD=", 4) == 0 ||
				      strncmp(line, "OLDPWD=", 7) == 0 ||
				      strncmp(line, "SHLVL=", 6) == 0 ||
				      strncmp(line, "_=", 2) == 0,
				      "unexpected variable %s", line);
	}
	ck_assert_uint_eq(seen, nwant);
}

START_TEST(script_env_and_argv)
{
	static const char *const want[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
		"/sbin:/bin",
		"INTERFACE=kh-tap0", "INSTANCE=vm1.example.com",
		"MAC=52:54:00:12:34:56", "MODE=bridged", "LINK=br0",
		"INTERFACE_UUID=3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		"INTERFACE_NAME=eth a'b\"c", "BRIDGE=br0", NULL,
	};
	struct tap_script_env env = {
		.instance = "vm1.example.com", .mac = "52:54:00:12:34:56",
		.mode = "bridged", .link = "br0",
		.uuid = "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
		.name = "eth a'b\"c", .bridge = "br0",
	};
	struct error e = { 0 };
	char buf[4096], marker[160];
	const char *script;
	int loose, stdin_was, in[2];
	struct tap t;

	make_dir();
	setenv("KH_TEST_SECRET", "leak", 1);
	setenv("HOME", "/root", 1);
	/* Neither a tap fd nor an fd without O_CLOEXEC reaches the script. */
	snprintf(marker, sizeof(marker), "%s/marker", dir);
	ck_assert_int_ge(loose = open(marker, O_WRONLY | O_CREAT, 0600), 0);
	ck_assert_msg(tap_open(&t, "kh-env", 1, &e) == KH_OK, "%s", e.msg);
	script = write_script("ifup", env_script, 0755);
	/* Our stdin is not the script's. */
	ck_assert_int_eq(pipe(in), 0);
	ck_assert_int_ge(stdin_was = dup(STDIN_FILENO), 0);
	ck_assert_int_eq(dup2(in[0], STDIN_FILENO), STDIN_FILENO);
	ck_assert_msg(tap_run_script(script, "kh-tap0", &env, HANG_MS, &e) ==
		      KH_OK, "%s", e.msg);
	ck_assert_int_eq(dup2(stdin_was, STDIN_FILENO), STDIN_FILENO);
	close(stdin_was);
	close(in[0]);
	close(in[1]);
	read_file("args", buf, sizeof(buf));
	ck_assert_str_eq(buf, "1\nkh-tap0\n");
	assert_env(want);
	read_file("env", buf, sizeof(buf));
	ck_assert_ptr_null(strstr(buf, "KH_TEST_SECRET"));
	ck_assert_ptr_null(strstr(buf, "HOME="));
	read_file("stdin", buf, sizeof(buf));
	ck_assert_str_eq(buf, "/dev/null\n");
	read_file("fds", buf, sizeof(buf));
	ck_assert_msg(strstr(buf, "/dev/net/tun") == NULL, "%s", buf);
	ck_assert_msg(strstr(buf, marker) == NULL, "%s", buf);
	close(loose);
	tap_close(&t);
	unsetenv("KH_TEST_SECRET");
	remove_dir();
}
END_TEST

START_TEST(script_env_left_out)
{
	static const char *const want_some[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
		"/sbin:/bin",
		"INTERFACE=kh-tap1", "MODE=routed", "LINK=100", NULL,
	};
	static const char *const want_none[] = {
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
		"/sbin:/bin",
		"INTERFACE=kh-tap1", NULL,
	};
	struct tap_script_env env = { .mode = "routed", .link = "100" };
	struct error e = { 0 };
	const char *script;

	make_dir();
	script = write_script("ifup", env_script, 0755);
	ck_assert_msg(tap_run_script(script, "kh-tap1", &env, HANG_MS, &e) ==
		      KH_OK, "%s", e.msg);
	assert_env(want_some);
	ck_assert_msg(tap_run_script(script, "kh-tap1", NULL, HANG_MS, &e) ==
		      KH_OK, "%s", e.msg);
	assert_env(want_none);
	remove_dir();
}
END_TEST

START_TEST(script_fails)
{
	struct error e = { 0 };
	const char *script;
	char expect[256];

	make_dir();
	script = write_script("ifup", "echo starting\n"
			      "echo 'no such bridge: br9' >&2\n\n"
			      "exit 3\n", 0755);
	ck_assert_int_eq(tap_run_script(script, "kh-tap", NULL, HANG_MS, &e),
			 KH_EFAIL);
	snprintf(expect, sizeof(expect), "script %s failed (exit 3): "
		 "no such bridge: br9", script);
	ck_assert_str_eq(e.msg, expect);
	/* No output: no colon. */
	script = write_script("quiet", "exit 1\n", 0755);
	ck_assert_int_eq(tap_run_script(script, "kh-tap", NULL, HANG_MS, &e),
			 KH_EFAIL);
	snprintf(expect, sizeof(expect), "script %s failed (exit 1)", script);
	ck_assert_str_eq(e.msg, expect);
	script = write_script("killed", "echo dying\nkill -TERM $$\n", 0755);
	ck_assert_int_eq(tap_run_script(script, "kh-tap", NULL, HANG_MS, &e),
			 KH_EFAIL);
	ck_assert_msg(strstr(e.msg, "(killed by signal 15): dying"), "%s",
		      e.msg);
	assert_no_child();
	remove_dir();
}
END_TEST

/* A lot of output, then a last line longer than any message. */
START_TEST(script_long_output)
{
	struct error e = { 0 };
	const char *script;

	make_dir();
	script = write_script("ifup", "head -c 1000000 /dev/zero | tr '\\0' x\n"
			      "echo\necho 'last words'\nexit 1\n", 0755);
	ck_assert_int_eq(tap_run_script(script, "kh-tap", NULL, HANG_MS, &e),
			 KH_EFAIL);
	ck_assert_msg(strstr(e.msg, "(exit 1): last words"), "%s", e.msg);
	script = write_script("long", "head -c 100000 /dev/zero | tr '\\0' y\n"
			      "exit 2\n", 0755);
	ck_assert_int_eq(tap_run_script(script, "kh-tap", NULL, HANG_MS, &e),
			 KH_EFAIL);
	ck_assert_msg(strstr(e.msg, "(exit 2): yyyy"), "%s", e.msg);
	ck_assert_uint_lt(strlen(e.msg), sizeof(e.msg) - 1);
	remove_dir();
}
END_TEST

START_TEST(script_cannot_run)
{
	static char huge[5000];
	struct tap_script_env env = { .instance = huge };
	struct error e = { 0 };
	int before = count_fds();
	char path[128];
	const char *script;

	make_dir();
	snprintf(path, sizeof(path), "%s/missing", dir);
	ck_assert_int_eq(tap_run_script(path, "kh-tap", NULL, HANG_MS, &e),
			 KH_EFAIL);
	ck_assert_msg(strstr(e.msg, path) &&
		      strstr(e.msg, "could not be run: No such file"),
		      "%s", e.msg);
	script = write_script("noexec", "exit 0\n", 0644);
	ck_assert_int_eq(tap_run_script(script, "kh-tap", NULL, HANG_MS, &e),
			 KH_EFAIL);
	ck_assert_msg(strstr(e.msg, "could not be run: Permission denied"),
		      "%s", e.msg);
	ck_assert_int_eq(tap_run_script(dir, "kh-tap", NULL, HANG_MS, &e),
			 KH_EFAIL);
	ck_assert_int_eq(tap_run_script(script, "bad/tap", NULL, HANG_MS, &e),
			 KH_EUSAGE);
	memset(huge, 'x', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	ck_assert_int_eq(tap_run_script(script, "kh-tap", &env, HANG_MS, &e),
			 KH_EUSAGE);
	ck_assert_ptr_nonnull(strstr(e.msg, "environment too long"));
	assert_no_child();
	ck_assert_int_eq(count_fds(), before);
	remove_dir();
}
END_TEST

/* The script and what it started are killed at the deadline. */
START_TEST(script_timeout)
{
	struct error e = { 0 };
	const char *script;
	char expect[256], buf[32], statpath[64];
	int64_t t0;
	pid_t bg;

	make_dir();
	script = write_script("ifup", "sleep 600 & echo $! > @/bg\n"
			      "echo waiting\nsleep 600\n", 0755);
	t0 = clock_ms();
	ck_assert_int_eq(tap_run_script(script, "kh-tap", NULL, 200, &e),
			 KH_ETIMEOUT);
	ck_assert_int_ge(clock_ms() - t0, 200);
	snprintf(expect, sizeof(expect), "script %s did not finish within "
		 "0.2 s", script);
	ck_assert_str_eq(e.msg, expect);
	assert_no_child();
	read_file("bg", buf, sizeof(buf));
	bg = (pid_t)atoi(buf);
	ck_assert_int_gt(bg, 0);
	/* Gone, or a zombie left to whoever adopted it. */
	snprintf(statpath, sizeof(statpath), "/proc/%d/stat", (int)bg);
	for (t0 = clock_ms(); clock_ms() - t0 < HANG_MS; sleep_ms(10)) {
		FILE *f = fopen(statpath, "r");
		char state = 'Z';

		if (f != NULL) {
			ck_assert_int_eq(fscanf(f, "%*d (%*[^)]) %c", &state), 1);
			fclose(f);
		}
		if (state == 'Z')
			break;
	}
	ck_assert_msg(clock_ms() - t0 < HANG_MS, "the script's child lives on");
	/* Closing its output is not the end of a script. */
	script = write_script("quiet", "exec >/dev/null 2>&1\nsleep 600\n",
			      0755);
	t0 = clock_ms();
	ck_assert_int_eq(tap_run_script(script, "kh-tap", NULL, 200, &e),
			 KH_ETIMEOUT);
	ck_assert_int_ge(clock_ms() - t0, 200);
	assert_no_child();
	remove_dir();
}
END_TEST

/* The exit status decides, even while a child the script left in the
 * background holds its output open. The child outlives the deadline, so
 * waiting for it would end in a timeout (KH_ETIMEOUT), whatever the
 * machine's speed. */
START_TEST(script_background_child)
{
	struct error e = { 0 };
	const char *script;
	char buf[32];

	make_dir();
	script = write_script("ifup", "sleep 600 & echo $! > @/bg\n"
			      "echo started\n", 0755);
	ck_assert_msg(tap_run_script(script, "kh-tap", NULL, HANG_MS, &e) ==
		      KH_OK, "%s", e.msg);
	read_file("bg", buf, sizeof(buf));
	kill((pid_t)atoi(buf), SIGKILL);
	script = write_script("fails", "sleep 600 & echo $! > @/bg\n"
			      "echo no bridge\nexit 3\n", 0755);
	ck_assert_int_eq(tap_run_script(script, "kh-tap", NULL, HANG_MS, &e),
			 KH_EFAIL);
	ck_assert_ptr_nonnull(strstr(e.msg, "failed (exit 3): no bridge"));
	read_file("bg", buf, sizeof(buf));
	kill((pid_t)atoi(buf), SIGKILL);
	assert_no_child();
	remove_dir();
}
END_TEST

/* No waiting for the deadline once the script is done: the deadline is
 * an hour, so waiting for it would be a hang, which the test case's
 * timeout reports. */
START_TEST(script_returns_at_exit)
{
	struct error e = { 0 };
	const char *script;

	make_dir();
	script = write_script("ifup", "echo done\n", 0755);
	for (int i = 0; i < 5; i++)
		ck_assert_msg(tap_run_script(script, "kh-tap", NULL, 3600 * 1000,
					     &e) == KH_OK, "%s", e.msg);
	remove_dir();
}
END_TEST

/* Every way out of tap_run_script leaves no fd and no child behind. */
START_TEST(script_no_leaks)
{
	struct error e = { 0 };
	const char *ok, *fail, *hang;
	char missing[128];
	int before;

	make_dir();
	ok = strdup(write_script("ok", "echo fine\n", 0755));
	fail = strdup(write_script("fail", "exit 4\n", 0755));
	hang = strdup(write_script("hang", "exec sleep 10\n", 0755));
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	before = count_fds();
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(tap_run_script(ok, "kh-tap", NULL, HANG_MS, &e),
				 KH_OK);
		ck_assert_int_eq(tap_run_script(fail, "kh-tap", NULL, HANG_MS, &e),
				 KH_EFAIL);
		ck_assert_int_eq(tap_run_script(hang, "kh-tap", NULL, 50, &e),
				 KH_ETIMEOUT);
		ck_assert_int_eq(tap_run_script(missing, "kh-tap", NULL, 5000,
						&e), KH_EFAIL);
	}
	ck_assert_int_eq(count_fds(), before);
	assert_no_child();
	free((void *)ok);
	free((void *)fail);
	free((void *)hang);
	remove_dir();
}
END_TEST

/* A caller that ignores SIGPIPE (as kvm-hotplug does) and blocks signals
 * does not pass that on to the script. */
START_TEST(script_signals_default)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	unsigned long long blocked, ignored;
	struct error e = { 0 };
	const char *script;
	sigset_t block, oldmask;
	char buf[256];

	make_dir();
	/* Not sh: dash clears its signal mask itself. (perl-base is
	 * essential in Debian; perl ignores SIGFPE itself.) */
	script = write_script("ifup", "#!/usr/bin/perl\n"
			      "open(my $in, '<', '/proc/self/status') or die;\n"
			      "open(my $out, '>', '@/sig') or die;\n"
			      "print $out grep { /^Sig(Blk|Ign)/ } <$in>;\n",
			      0755);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	ck_assert_int_eq(sigaction(SIGPIPE, &ign, &old), 0);
	ck_assert_int_eq(sigprocmask(SIG_BLOCK, &block, &oldmask), 0);
	ck_assert_msg(tap_run_script(script, "kh-tap", NULL, HANG_MS, &e) ==
		      KH_OK, "%s", e.msg);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	sigaction(SIGPIPE, &old, NULL);
	read_file("sig", buf, sizeof(buf));
	ck_assert_int_eq(sscanf(buf, "SigBlk: %llx SigIgn: %llx", &blocked,
				&ignored), 2);
	ck_assert_msg(blocked == 0, "%s", buf);
	ck_assert_msg(!(ignored & 1ULL << (SIGPIPE - 1)), "%s", buf);
	remove_dir();
}
END_TEST

static Suite *tap_suite(void)
{
	Suite *s = suite_create("tap");
	TCase *tc = check_case("tap");

	tcase_add_test(tc, open_named);
	tcase_add_test(tc, open_kernel_named);
	tcase_add_test(tc, open_multiqueue);
	tcase_add_test(tc, bad_queues_and_names_refused);
	tcase_add_test(tc, existing_name_refused);
	tcase_add_test(tc, close_removes_tap);
	tcase_add_test(tc, failed_open_leaves_nothing);
	tcase_add_test(tc, up);
	tcase_add_test(tc, check_bridge);
	tcase_add_test(tc, enslave);
	tcase_add_test(tc, vhost_modes);
	tcase_add_test(tc, script_env_and_argv);
	tcase_add_test(tc, script_env_left_out);
	tcase_add_test(tc, script_fails);
	tcase_add_test(tc, script_long_output);
	tcase_add_test(tc, script_cannot_run);
	tcase_add_test(tc, script_timeout);
	tcase_add_test(tc, script_background_child);
	tcase_add_test(tc, script_returns_at_exit);
	tcase_add_test(tc, script_no_leaks);
	tcase_add_test(tc, script_signals_default);
	suite_add_tcase(s, tc);
	return s;
}

/* A network namespace of our own, and a /sys that shows it: sysfs shows
 * the namespace of whoever mounted it, so it is mounted again in a mount
 * namespace of our own. */
static bool private_net(void)
{
	if (unshare(CLONE_NEWNET | CLONE_NEWNS) == -1) {
		fprintf(stderr, "test_tap: unshare: %s\n", strerror(errno));
		return false;
	}
	if (mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == -1 ||
	    umount2("/sys", MNT_DETACH) == -1 ||
	    mount("sysfs", "/sys", "sysfs", 0, NULL) == -1) {
		fprintf(stderr, "test_tap: remounting /sys: %s\n",
			strerror(errno));
		return false;
	}
	return true;
}

int main(void)
{
	if (!private_net()) {
		fprintf(stderr, "test_tap: FAILED: these tests need root "
			"(CAP_SYS_ADMIN, CAP_NET_ADMIN) for a private network "
			"namespace\n");
		return EXIT_FAILURE;
	}
	return check_run(tap_suite());
}
