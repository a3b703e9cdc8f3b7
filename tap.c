/* Host side of a virtio NIC, see tap.h. Everything asks the kernel
 * directly (ioctls on /dev/net/tun and on a datagram socket), so it acts
 * in the caller's network namespace; scripts run without a shell. */
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "tap.h"

#define TUN_DEV		"/dev/net/tun"

/* The tun device; a test build (the fault points' one) takes another
 * path from KH_TEST_TUN_DEV, to see what a host without it does. */
static const char *tun_dev(void)
{
#ifdef KH_FAULT_INJECTION
	const char *path = getenv("KH_TEST_TUN_DEV");

	if (path != NULL)
		return path;
#endif
	return TUN_DEV;
}
#define VHOST_DEV	"/dev/vhost-net"
#define SCRIPT_PATH	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:" \
			"/sbin:/bin"

void tap_init(struct tap *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < TAP_MAX_QUEUES; i++)
		t->fds[i] = t->vhostfds[i] = -1;
}

static void close_fds(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

void tap_close(struct tap *t)
{
	close_fds(t->vhostfds, TAP_MAX_QUEUES);
	close_fds(t->fds, TAP_MAX_QUEUES);
}

/* The TUNSETIFF flags for a tap of queues queues, as far as the kernel
 * offers them. */
static int tun_flags(int queues, int *flags, struct error *e)
{
	unsigned int features;
	int fd, rc = KH_OK;

	if ((fd = open(tun_dev(), O_RDWR | O_CLOEXEC)) == -1)
		return error_set(e, KH_EFAIL, "%s: %s", tun_dev(), strerror(errno));
	if (ioctl(fd, TUNGETFEATURES, &features) == -1)
		rc = error_set(e, KH_EFAIL, "%s: cannot read features: %s",
			       tun_dev(), strerror(errno));
	close(fd);
	if (rc != KH_OK)
		return rc;
	if (queues > 1 && !(features & IFF_MULTI_QUEUE))
		return error_set(e, KH_ENOHOTPLUG, "taps of this kernel have no "
				 "multi-queue support (%d queues asked)", queues);
	*flags = IFF_TAP | IFF_NO_PI;
	if (queues > 1)
		*flags |= IFF_MULTI_QUEUE;
	if (features & IFF_VNET_HDR)
		*flags |= IFF_VNET_HDR;
	return KH_OK;
}

/* Opens queue i. The first creates the tap, under t->name or a name the
 * kernel chooses; IFF_TUN_EXCL makes it fail on a name that exists, which
 * TUNSETIFF would otherwise attach to if it is a tap. The other queues
 * join the tap under the name the first one got. */
static int tap_attach(struct tap *t, int i, int flags, struct error *e)
{
	struct ifreq ifr = { 0 };
	const char *name = t->name[0] != '\0' ? t->name : "tap%d";

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = (short)(i == 0 ? flags | IFF_TUN_EXCL : flags);
	if ((t->fds[i] = open(tun_dev(), O_RDWR | O_CLOEXEC)) == -1)
		return error_set(e, KH_EFAIL, "%s: %s", tun_dev(), strerror(errno));
	if (ioctl(t->fds[i], TUNSETIFF, &ifr) == -1) {
		if (i == 0 && errno == EBUSY)
			return error_set(e, KH_EFAIL,
					 "interface %s already exists", name);
		if (i == 0)
			return error_set(e, KH_EFAIL, "cannot create tap%s%s: %s",
					 t->name[0] ? " " : "", t->name,
					 strerror(errno));
		return error_set(e, KH_EFAIL, "tap %s: cannot open queue %d: %s",
				 name, i + 1, strerror(errno));
	}
	memcpy(t->name, ifr.ifr_name, sizeof(t->name));
	t->name[sizeof(t->name) - 1] = '\0';
	return KH_OK;
}

int tap_usable(struct error *e)
{
	int flags;

	return tun_flags(1, &flags, e);
}

int tap_open(struct tap *t, const char *name, int queues, struct error *e)
{
	int flags = 0, rc;

	tap_init(t);
	if (queues < 1 || queues > TAP_MAX_QUEUES)
		return error_set(e, KH_EUSAGE, "a tap has 1 to %d queues, not %d",
				 TAP_MAX_QUEUES, queues);
	if (name != NULL && !tap_name_is_valid(name))
		return error_set(e, KH_EUSAGE, "invalid tap name '%.40s'", name);
	if ((rc = tun_flags(queues, &flags, e)) != KH_OK)
		return rc;
	if (name != NULL)
		snprintf(t->name, sizeof(t->name), "%s", name);
	for (int i = 0; i < queues; i++)
		if ((rc = tap_attach(t, i, flags, e)) != KH_OK) {
			/* Our fds are the only ones: the tap goes with them. */
			tap_close(t);
			tap_init(t);
			return rc;
		}
	t->queues = queues;
	t->vnet_hdr = (flags & IFF_VNET_HDR) != 0;
	return KH_OK;
}

/* Whether open(2) failing with err means the host has no usable
 * vhost-net (module not loaded, no node, not allowed), rather than that
 * we ran out of something. */
static bool vhost_missing(int err)
{
	return err == ENOENT || err == ENODEV || err == ENXIO ||
	       err == EACCES || err == EPERM;
}

int tap_open_vhost(struct tap *t, const char *mode, bool *used,
		   struct error *e)
{
	bool on = strcmp(mode, "on") == 0;
	int err;

	/* Anew each time: fds of an earlier call are not leaked. */
	close_fds(t->vhostfds, TAP_MAX_QUEUES);
	*used = false;
	if (strcmp(mode, "off") == 0)
		return KH_OK;
	if (!on && strcmp(mode, "auto") != 0)
		return error_set(e, KH_EUSAGE, "invalid vhost mode '%.40s' "
				 "(on, off or auto)", mode);
	for (int i = 0; i < t->queues; i++) {
		if ((t->vhostfds[i] = open(VHOST_DEV, O_RDWR | O_CLOEXEC)) >= 0)
			continue;
		err = errno;
		close_fds(t->vhostfds, TAP_MAX_QUEUES);
		if (!vhost_missing(err))
			return error_set(e, KH_EFAIL, VHOST_DEV ": %s",
					 strerror(err));
		if (on)
			return error_set(e, KH_ENOHOTPLUG, "vhost-net is not "
					 "available (" VHOST_DEV ": %s)",
					 strerror(err));
		return KH_OK;
	}
	*used = true;
	return KH_OK;
}

/* An interface ioctl through a socket of its own (the kernel takes them
 * on a socket of any family); -1 with errno on failure. */
static int if_ioctl(unsigned long request, struct ifreq *ifr)
{
	int s, rc, err;

	if ((s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	rc = ioctl(s, request, ifr);
	err = errno;
	close(s);
	errno = err;
	return rc;
}

int tap_up(const struct tap *t, struct error *e)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->name);
	if (if_ioctl(SIOCGIFFLAGS, &ifr) == -1)
		return error_set(e, KH_EFAIL, "tap %s: cannot read flags: %s",
				 t->name, strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (if_ioctl(SIOCSIFFLAGS, &ifr) == -1)
		return error_set(e, KH_EFAIL, "tap %s: cannot set it up: %s",
				 t->name, strerror(errno));
	return KH_OK;
}

/* The bridge driver calls itself "bridge" in ethtool's driver info.
 * Asked this way rather than through /sys, the answer is about the
 * caller's network namespace, the one SIOCBRADDIF acts in. */
int tap_check_bridge(const char *bridge, struct error *e)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { .ifr_data = (void *)&info };

	if (!tap_name_is_valid(bridge))
		return error_set(e, KH_EUSAGE, "invalid bridge name '%.40s'",
				 bridge);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", bridge);
	/* EOPNOTSUPP: no driver info at all (lo), so not a bridge. */
	if (if_ioctl(SIOCETHTOOL, &ifr) == -1 && errno != EOPNOTSUPP) {
		if (errno == ENODEV)
			return error_set(e, KH_EUSAGE,
					 "bridge %s does not exist", bridge);
		return error_set(e, KH_EFAIL, "bridge %s: %s", bridge,
				 strerror(errno));
	}
	if (strcmp(info.driver, "bridge") != 0)
		return error_set(e, KH_EUSAGE, "%s is not a bridge", bridge);
	return KH_OK;
}

bool tap_exists(const char *name, char *master, size_t size)
{
	char link[64], target[256];
	ssize_t n;

	master[0] = '\0';
	if (if_nametoindex(name) == 0)
		return false;
	snprintf(link, sizeof(link), "/sys/class/net/%s/master", name);
	if ((n = readlink(link, target, sizeof(target) - 1)) > 0) {
		target[n] = '\0';
		snprintf(master, size, "%s", strrchr(target, '/') != NULL ?
			 strrchr(target, '/') + 1 : target);
	}
	return true;
}

int tap_enslave(const struct tap *t, const char *bridge, struct error *e)
{
	struct ifreq ifr = { 0 };

	if (!tap_name_is_valid(bridge))
		return error_set(e, KH_EUSAGE, "invalid bridge name '%.40s'",
				 bridge);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", bridge);
	if ((ifr.ifr_ifindex = if_nametoindex(t->name)) == 0)
		return error_set(e, KH_EFAIL, "tap %s: %s", t->name,
				 strerror(errno));
	if (if_ioctl(SIOCBRADDIF, &ifr) == -1)
		return error_set(e, KH_EFAIL, "cannot add tap %s to bridge %s: "
				 "%s", t->name, bridge, strerror(errno));
	return KH_OK;
}

/* A script's environment, built before fork so that the child only has
 * async-signal-safe work to do. */
struct script_env {
	char *vars[10];		/* PATH, INTERFACE, tap_script_env's 7, NULL */
	int n;
	char buf[4096];
	size_t used;
};

static bool env_add(struct script_env *se, const char *key, const char *value)
{
	size_t room = sizeof(se->buf) - se->used;
	int len;

	if (value == NULL)
		return true;
	len = snprintf(se->buf + se->used, room, "%s=%s", key, value);
	if (len < 0 || (size_t)len >= room)
		return false;
	se->vars[se->n++] = se->buf + se->used;
	se->vars[se->n] = NULL;
	se->used += (size_t)len + 1;
	return true;
}

static bool env_build(struct script_env *se, const char *tap,
		      const struct tap_script_env *env)
{
	static const struct tap_script_env none;

	/* No env at all: just PATH and INTERFACE. */
	if (env == NULL)
		env = &none;
	se->n = 0;
	se->used = 0;
	return env_add(se, "PATH", SCRIPT_PATH) &&
	       env_add(se, "INTERFACE", tap) &&
	       env_add(se, "INSTANCE", env->instance) &&
	       env_add(se, "MAC", env->mac) &&
	       env_add(se, "MODE", env->mode) &&
	       env_add(se, "LINK", env->link) &&
	       env_add(se, "INTERFACE_UUID", env->uuid) &&
	       env_add(se, "INTERFACE_NAME", env->name) &&
	       env_add(se, "BRIDGE", env->bridge);
}

/* The forked child, up to execve: async-signal-safe calls only. If execve
 * is not reached or fails, the errno goes to the parent through errfd,
 * which a successful execve closes instead. */
_Noreturn static void script_child(const char *script, char *const argv[],
				   char *const envp[], int outfd, int errfd)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;
	int nullfd, err;

	/* A group of its own, so that a timeout kills what it started too.
	 * The parent waits for execve before it could kill, so no race. */
	setpgid(0, 0);
	/* We may ignore SIGPIPE (the monitor socket), and an ignored signal
	 * stays ignored across execve. */
	sigaction(SIGPIPE, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Whatever fds of ours lack O_CLOEXEC, they are not the script's. */
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	if ((nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1 &&
	    dup2(nullfd, STDIN_FILENO) != -1 &&
	    dup2(outfd, STDOUT_FILENO) != -1 &&
	    dup2(outfd, STDERR_FILENO) != -1)
		execve(script, argv, envp);
	err = errno;
	while (write(errfd, &err, sizeof(err)) == -1 && errno == EINTR)
		;
	_exit(127);
}

/* The errno the child reported, or 0 once execve closed fd. */
static int exec_errno(int fd)
{
	ssize_t n;
	int err;

	while ((n = read(fd, &err, sizeof(err))) == -1 && errno == EINTR)
		;
	return n == (ssize_t)sizeof(err) ? err : 0;
}

static int reap(pid_t pid, int *status)
{
	while (waitpid(pid, status, 0) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Starts script, its stdout and stderr on *outfd. On failure, including
 * a failed execve, nothing is left: no fd, no child. */
static int script_start(const char *script, char *const argv[],
			char *const envp[], pid_t *pid, int *outfd,
			struct error *e)
{
	int out[2], ex[2], err, status;

	if (pipe2(out, O_CLOEXEC) == -1)
		return error_set(e, KH_EFAIL, "script %s: pipe: %s", script,
				 strerror(errno));
	if (pipe2(ex, O_CLOEXEC) == -1) {
		err = errno;
		close(out[0]);
		close(out[1]);
		return error_set(e, KH_EFAIL, "script %s: pipe: %s", script,
				 strerror(err));
	}
	if ((*pid = fork()) == 0)
		script_child(script, argv, envp, out[1], ex[1]);
	err = *pid == -1 ? errno : 0;
	close(out[1]);
	close(ex[1]);
	if (err == 0 && (err = exec_errno(ex[0])) != 0)
		reap(*pid, &status);
	close(ex[0]);
	if (err != 0) {
		close(out[0]);
		return error_set(e, KH_EFAIL, "script %s could not be run: %s",
				 script, strerror(err));
	}
	*outfd = out[0];
	return KH_OK;
}

/* The script's last non-empty line of output, cut to fit a message. */
struct last_line {
	char text[200];
	size_t len;
	bool ended;		/* a newline came after text */
};

static void last_line_add(struct last_line *l, const char *buf, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || buf[i] == '\r') {
			l->ended = true;
			continue;
		}
		if (l->ended) {
			l->len = 0;
			l->ended = false;
		}
		if (l->len < sizeof(l->text) - 1)
			l->text[l->len++] = buf[i];
	}
	l->text[l->len] = '\0';
}

static int script_status(const char *script, int status,
			 const struct last_line *l, struct error *e)
{
	char why[32];

	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return KH_OK;
	if (WIFEXITED(status))
		snprintf(why, sizeof(why), "exit %d", WEXITSTATUS(status));
	else
		snprintf(why, sizeof(why), "killed by signal %d",
			 WTERMSIG(status));
	return error_set(e, KH_EFAIL, "script %s failed (%s)%s%s", script, why,
			 l->len > 0 ? ": " : "", l->text);
}

/* Reads what the script wrote, without waiting for more: it has exited,
 * and a child it left in the background may hold its output open. */
static void drain_output(int fd, struct last_line *l)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char buf[4096];
	ssize_t n;

	for (int i = 0; i < 64 && poll(&pfd, 1, 0) == 1; i++) {
		if ((n = read(fd, buf, sizeof(buf))) <= 0)
			return;
		last_line_add(l, buf, (size_t)n);
	}
}

/* Waits for the script to exit, reading its output meanwhile: its exit
 * status decides, not the end of its output, which a child left running
 * in the background can hold open for ever. SIGCHLD is blocked
 * (tap_run_script) and read from a signalfd. 1 once reaped, 0 at the
 * deadline, -1 on an error (errno). */
static int wait_script(pid_t pid, int outfd, int64_t deadline,
		       struct last_line *l, int *status)
{
	struct signalfd_siginfo si;
	sigset_t chld;
	struct pollfd pfd[2] = { { .events = POLLIN }, { .fd = outfd, .events = POLLIN } };
	char buf[4096];
	int64_t left;
	ssize_t n;
	int done = 0, ready;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	if ((pfd[0].fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK)) == -1)
		return -1;
	/* an exit before the signalfd was made is pending, hence readable */
	while (done == 0 && (left = deadline - clock_ms()) > 0) {
		/* short slices: in a process with threads another thread may
		 * take the SIGCHLD, so the exit is also looked for directly */
		if ((ready = poll(pfd, 2, left < 50 ? (int)left : 50)) == -1 &&
		    errno != EINTR)
			done = -1;
		if (ready == 0 && waitpid(pid, status, WNOHANG) == pid) {
			drain_output(outfd, l);
			done = 1;
		}
		if (ready <= 0 || done != 0)
			continue;
		if (pfd[1].revents != 0) {
			if ((n = read(outfd, buf, sizeof(buf))) > 0)
				last_line_add(l, buf, (size_t)n);
			else if (n == 0 || errno != EINTR)
				pfd[1].fd = -1;	/* closed: only the exit left */
		}
		if (pfd[0].revents != 0 && read(pfd[0].fd, &si, sizeof(si)) >= 0 &&
		    waitpid(pid, status, WNOHANG) == pid) {
			drain_output(outfd, l);
			done = 1;
		}
	}
	close(pfd[0].fd);
	return done;
}

/* Sees the started script to its end, or kills it (and what it started
 * in its process group) at the deadline. */
static int script_finish(const char *script, pid_t pid, int outfd,
			 int timeout_ms, struct error *e)
{
	int64_t deadline = clock_ms() + timeout_ms;
	struct last_line last = { .len = 0 };
	int status, done, err;

	done = wait_script(pid, outfd, deadline, &last, &status);
	err = errno;
	close(outfd);
	if (done == 1)
		return script_status(script, status, &last, e);
	kill(-pid, SIGKILL);
	reap(pid, &status);
	if (done == 0)
		return error_set(e, KH_ETIMEOUT, "script %s did not finish "
				 "within %g s", script, timeout_ms / 1000.0);
	return error_set(e, KH_EFAIL, "script %s: %s", script, strerror(err));
}

int tap_run_script(const char *script, const char *tap,
		   const struct tap_script_env *env, int timeout_ms,
		   struct error *e)
{
	char *argv[] = { (char *)script, (char *)tap, NULL };
	struct script_env se;
	sigset_t chld, mask;
	int outfd = -1, rc;
	pid_t pid = -1;

	if (!tap_name_is_valid(tap))
		return error_set(e, KH_EUSAGE, "invalid tap name '%.40s'", tap);
	if (!env_build(&se, tap, env))
		return error_set(e, KH_EUSAGE, "script %s: environment too long",
				 script);
	/* Blocked, the child's SIGCHLD stays pending for wait_exit. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &mask);
	rc = script_start(script, argv, se.vars, &pid, &outfd, e);
	if (rc == KH_OK)
		rc = script_finish(script, pid, outfd, timeout_ms, e);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	return rc;
}
