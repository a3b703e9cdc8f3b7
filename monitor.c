#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "monitor.h"

/* A reply to query-pci on a machine full of bridges is a few hundred KiB;
 * anything far beyond that is not QEMU talking. */
#define MAX_MESSAGE (64u << 20)

struct monitor {
	int fd;
	int timeout_ms;
	char *buf;		/* bytes read but not yet parsed */
	size_t len, cap;
	json_t *events;		/* events received while waiting for other things */
	unsigned long next_id;
	unsigned long caps_id;	/* qmp_capabilities, its answer not read yet */
	bool caps_pending;
	int version[3];
	bool greeted;		/* past the greeting: garbage is a QEMU fault */
};

static int remaining_ms(int64_t deadline)
{
	int64_t left = deadline - clock_ms();

	return left > 0 ? (int)left : 0;
}

/* Waits until fd is ready for events or the deadline passes. */
static volatile sig_atomic_t *interrupt_flag;
static sigset_t interrupt_signals;

void monitor_interrupt_on(volatile sig_atomic_t *flag, const sigset_t *signals)
{
	interrupt_flag = flag;
	interrupt_signals = *signals;
}

/* KH_ETIMEOUT "interrupted by signal N (what)" once the caller's flag is
 * set; KH_OK before. */
static int interrupted(const char *what, struct error *e)
{
	if (interrupt_flag == NULL || *interrupt_flag == 0)
		return KH_OK;
	return error_set(e, KH_ETIMEOUT, "interrupted by signal %d (%s)",
			 (int)*interrupt_flag, what);
}

static int wait_fd(int fd, short events, int64_t deadline, const char *what,
		   struct error *e)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int left = remaining_ms(deadline), n, err;
		struct timespec ts = { left / 1000, (left % 1000) * 1000000L };
		sigset_t open;

		/* a signal that came before the wait counts as much as one
		 * that ends it (EINTR); blocked from the check on, one that
		 * comes in between is delivered inside ppoll, ending it */
		if (interrupt_flag != NULL)
			sigprocmask(SIG_BLOCK, &interrupt_signals, &open);
		if (interrupted(what, e) != KH_OK) {
			sigprocmask(SIG_SETMASK, &open, NULL);
			return e->code;
		}
		n = ppoll(&p, 1, &ts, interrupt_flag != NULL ? &open : NULL);
		err = errno;
		if (interrupt_flag != NULL)
			sigprocmask(SIG_SETMASK, &open, NULL);
		errno = err;
		if (n > 0)
			return KH_OK;
		if (n == 0)
			return error_set(e, KH_ETIMEOUT,
					 "QEMU monitor did not answer in time (%s)",
					 what);
		if (errno != EINTR)
			return error_set(e, KH_EFAIL, "poll: %s", strerror(errno));
	}
}

/* How long to wait before asking a full listen queue again. */
#define BUSY_PAUSE_MS	10

/* connect() on fd, asked again while the listen queue is full: on a Unix
 * socket EAGAIN means no connection was made (QEMU serves one client at
 * a time, and a few more wait in its queue), unlike EINPROGRESS. A run
 * waits for its turn as for anything else, up to the deadline. */
static int connect_when_queued(int fd, const struct sockaddr_un *sa,
			       const char *path, int64_t deadline,
			       struct error *e)
{
	int64_t t0 = clock_ms();

	while (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EINPROGRESS)
			return KH_OK;
		/* nobody listens: the socket of a QEMU that is gone */
		if (errno != EAGAIN)
			return error_set(e, KH_EFAIL, "cannot connect to monitor "
					 "%s: %s%s", path, strerror(errno),
					 errno == ECONNREFUSED || errno == ENOENT ?
					 " (is QEMU running?)" : "");
		if (interrupted("connect", e) != KH_OK)
			return e->code;
		if (remaining_ms(deadline) == 0)
			return error_set(e, KH_ETIMEOUT, "monitor %s is busy: its "
					 "queue of waiting clients stayed full for "
					 "%.1f s", path, (clock_ms() - t0) / 1000.0);
		clock_pause_ms(remaining_ms(deadline) < BUSY_PAUSE_MS ?
			       remaining_ms(deadline) : BUSY_PAUSE_MS);
	}
	return KH_OK;
}

static int connect_unix(const char *path, int64_t deadline, int *fdp,
			struct error *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	socklen_t len = sizeof(int);
	int fd, soerr = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return error_set(e, KH_EUSAGE, "monitor path too long: %s", path);
	if (stat(path, &st) == -1)
		return error_set(e, KH_EFAIL, "monitor %s: %s%s", path,
				 strerror(errno), errno == ENOENT ?
				 " (is QEMU running?)" : "");
	if (!S_ISSOCK(st.st_mode))
		return error_set(e, KH_EUSAGE, "monitor %s is not a socket", path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return error_set(e, KH_EFAIL, "socket: %s", strerror(errno));
	/* a connection under way (EINPROGRESS) ends writable, or with an
	 * error */
	if (connect_when_queued(fd, &sa, path, deadline, e) != KH_OK ||
	    wait_fd(fd, POLLOUT, deadline, "connect", e) != KH_OK)
		goto fail;
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
	if (soerr != 0) {
		error_set(e, KH_EFAIL, "cannot connect to monitor %s: %s",
			  path, strerror(soerr));
		goto fail;
	}
	*fdp = fd;
	return KH_OK;
fail:
	close(fd);
	return e->code;
}

/* Reads once from the socket into m->buf. */
static int fill_buffer(struct monitor *m, int64_t deadline, const char *what,
		       struct error *e)
{
	ssize_t n;

	if (m->cap - m->len < 4096) {
		size_t cap = m->cap ? m->cap * 2 : 65536;
		char *p;
		if (cap > MAX_MESSAGE + 4096)
			return error_set(e, KH_EFAIL,
					 "QEMU monitor sent a message over %u MiB",
					 MAX_MESSAGE >> 20);
		if ((p = realloc(m->buf, cap)) == NULL)
			return error_nomem(e);
		m->buf = p;
		m->cap = cap;
	}
	for (;;) {
		if (wait_fd(m->fd, POLLIN, deadline, what, e) != KH_OK)
			return e->code;
		n = recv(m->fd, m->buf + m->len, m->cap - m->len, 0);
		if (n > 0) {
			m->len += (size_t)n;
			return KH_OK;
		}
		if (n == 0)
			return error_set(e, KH_EFAIL,
					 "QEMU closed the monitor connection (%s)",
					 what);
		if (errno != EINTR && errno != EAGAIN)
			return error_set(e, KH_EFAIL, "monitor read: %s",
					 strerror(errno));
	}
}

/* Takes one CRLF- or LF-terminated line out of m->buf, if there is one. */
static char *take_line(struct monitor *m)
{
	char *nl = m->len ? memchr(m->buf, '\n', m->len) : NULL;
	size_t n;
	char *line;

	if (nl == NULL)
		return NULL;
	n = (size_t)(nl - m->buf);
	if ((line = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(line, m->buf, n);
	line[n] = '\0';
	if (n > 0 && line[n - 1] == '\r')
		line[n - 1] = '\0';
	m->len -= n + 1;
	memmove(m->buf, nl + 1, m->len);
	return line;
}

/* An HMP monitor greets with "QEMU 7.2.22 monitor - type 'help' ...". */
static int not_json(const struct monitor *m, const char *line, struct error *e)
{
	if (m->greeted)
		return error_set(e, KH_EFAIL,
				 "QEMU monitor sent malformed JSON: '%.60s'", line);
	if (strncmp(line, "QEMU ", 5) == 0 && strstr(line, " monitor") != NULL)
		return error_set(e, KH_EUSAGE,
				 "this is an HMP (human) monitor, not QMP: start "
				 "QEMU with -qmp or -mon mode=control");
	return error_set(e, KH_EUSAGE,
			 "not a QMP monitor: unexpected data '%.60s'", line);
}

/* Reads the next complete JSON object from the monitor. */
static int read_message(struct monitor *m, int64_t deadline, const char *what,
			json_t **msg, struct error *e)
{
	char *line;
	json_error_t jerr;

	for (;;) {
		while ((line = take_line(m)) != NULL) {
			if (line[strspn(line, " \t")] == '\0') {
				free(line);
				continue;
			}
			*msg = json_loads(line, 0, &jerr);
			if (*msg == NULL || !json_is_object(*msg)) {
				not_json(m, line, e);
				json_decref(*msg);
				free(line);
				return e->code;
			}
			free(line);
			return KH_OK;
		}
		if (m->len > MAX_MESSAGE)
			return error_set(e, KH_EFAIL,
					 "QEMU monitor sent a message over %u MiB",
					 MAX_MESSAGE >> 20);
		if (fill_buffer(m, deadline, what, e) != KH_OK)
			return e->code;
	}
}

/* Keeps an event for monitor_wait_event; anything else is dropped. */
static bool queue_if_event(struct monitor *m, json_t *msg)
{
	if (!json_is_string(json_object_get(msg, "event")))
		return false;
	json_array_append(m->events, msg);
	return true;
}

static int send_all(struct monitor *m, const char *data, size_t len, int fd,
		    int64_t deadline, struct error *e)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };

	while (len > 0) {
		struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		/* The fd travels with the first bytes of the command, so
		 * QEMU has it when it parses the command. */
		if (fd >= 0) {
			struct cmsghdr *c;
			mh.msg_control = cbuf;
			mh.msg_controllen = sizeof(cbuf);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		n = sendmsg(m->fd, &mh, MSG_NOSIGNAL);
		if (n > 0) {
			data += n;
			len -= (size_t)n;
			fd = -1;
			continue;
		}
		if (n == -1 && errno == EAGAIN) {
			if (wait_fd(m->fd, POLLOUT, deadline, "sending", e) != KH_OK)
				return e->code;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		return error_set(e, KH_EFAIL, "monitor write: %s",
				 n == -1 ? strerror(errno) : "nothing written");
	}
	return KH_OK;
}

/* Appends the CRLF that ends a QMP message; frees text on failure. */
static char *frame(char *text)
{
	size_t n = strlen(text);
	char *p = realloc(text, n + 3);

	if (p == NULL) {
		free(text);
		return NULL;
	}
	memcpy(p + n, "\r\n", 3);
	return p;
}

/* Turns a reply into *ret or into an error carrying QEMU's class. */
static int take_reply(json_t *msg, const char *cmd, json_t **ret,
		      struct error *e)
{
	json_t *err = json_object_get(msg, "error");

	if (err != NULL) {
		const char *cls = json_string_value(json_object_get(err, "class"));
		const char *desc = json_string_value(json_object_get(err, "desc"));
		/* a QEMU built without what the tool sends cannot hotplug
		 * this way at all, as 'supported' says in advance */
		if (cls != NULL && strcmp(cls, "CommandNotFound") == 0)
			error_set(e, KH_ENOHOTPLUG, "QEMU does not offer %s, which "
				  "hotplug needs here (see 'supported')", cmd);
		else
			error_set(e, KH_EFAIL, "QEMU refused %s: %s", cmd,
				  desc ? desc : "(no description)");
		snprintf(e->qmp_class, sizeof(e->qmp_class), "%s",
			 cls ? cls : "");
		return e->code;
	}
	if (ret != NULL) {
		*ret = json_object_get(msg, "return");
		json_incref(*ret);
	}
	return KH_OK;
}

/* Our reply carries our id; QEMU answers a command it could not parse
 * with an error without any id, which can only be ours. */
static bool is_reply_to(json_t *msg, const char *id)
{
	json_t *mid = json_object_get(msg, "id");

	if (mid == NULL)
		return json_object_get(msg, "error") != NULL;
	return json_is_string(mid) && strcmp(json_string_value(mid), id) == 0;
}

int monitor_send(struct monitor *m, const char *cmd, json_t *args, int fd,
		 unsigned long *id, struct error *e)
{
	int64_t deadline = clock_ms() + m->timeout_ms;
	char idstr[32], *text;
	json_t *req;
	int rc;

	*id = m->next_id++;
	snprintf(idstr, sizeof(idstr), "kh-%lu", *id);
	req = json_pack("{s:s, s:s}", "execute", cmd, "id", idstr);
	if (req == NULL) {
		json_decref(args);
		return error_nomem(e);
	}
	/* json_object_set_new takes args even when it fails */
	if (args != NULL && json_object_set_new(req, "arguments", args) == -1) {
		json_decref(req);
		return error_nomem(e);
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL || (text = frame(text)) == NULL)
		return error_set(e, KH_EFAIL, "cannot encode %s", cmd);
	/* one message, one write: QEMU wakes once and the fd rides along */
	rc = send_all(m, text, strlen(text), fd, deadline, e);
	free(text);
	return rc;
}

/* The answer to qmp_capabilities, sent without waiting for it (see
 * monitor_attach), read before any other: were it an error, every
 * command behind it would have been refused too, and this says why. */
static int negotiated(struct monitor *m, struct error *e)
{
	if (!m->caps_pending)
		return KH_OK;
	m->caps_pending = false;
	return monitor_reply(m, m->caps_id, "qmp_capabilities", NULL, e);
}

int monitor_reply(struct monitor *m, unsigned long id, const char *cmd,
		  json_t **ret, struct error *e)
{
	int64_t deadline = clock_ms() + m->timeout_ms;
	char idstr[32];
	json_t *msg;
	int rc;

	if (negotiated(m, e) != KH_OK)
		return e->code;
	snprintf(idstr, sizeof(idstr), "kh-%lu", id);
	for (;;) {
		if (read_message(m, deadline, cmd, &msg, e) != KH_OK)
			return e->code;
		if (!queue_if_event(m, msg) && is_reply_to(msg, idstr)) {
			rc = take_reply(msg, cmd, ret, e);
			json_decref(msg);
			return rc;
		}
		json_decref(msg);
	}
}

int monitor_execute_fd(struct monitor *m, const char *cmd, json_t *args,
		       int fd, json_t **ret, struct error *e)
{
	unsigned long id;

	if (monitor_send(m, cmd, args, fd, &id, e) != KH_OK)
		return e->code;
	return monitor_reply(m, id, cmd, ret, e);
}

int monitor_execute(struct monitor *m, const char *cmd, json_t *args,
		    json_t **ret, struct error *e)
{
	return monitor_execute_fd(m, cmd, args, -1, ret, e);
}

/* Finds a matching event in the queue and removes it. */
static bool take_queued_event(struct monitor *m, const char *name,
			      monitor_event_match match, void *arg)
{
	size_t i;
	json_t *ev;

	json_array_foreach(m->events, i, ev) {
		const char *ename = json_string_value(json_object_get(ev, "event"));
		if (strcmp(ename, name) == 0 &&
		    (match == NULL || match(json_object_get(ev, "data"), arg))) {
			json_array_remove(m->events, i);
			return true;
		}
	}
	return false;
}

int monitor_wait_event(struct monitor *m, const char *name,
		       monitor_event_match match, void *arg, int timeout_ms,
		       struct error *e)
{
	int64_t deadline = clock_ms() + timeout_ms;
	json_t *msg;

	if (negotiated(m, e) != KH_OK)
		return e->code;
	while (!take_queued_event(m, name, match, arg)) {
		if (read_message(m, deadline, name, &msg, e) != KH_OK)
			return e->code;
		/* A reply nobody waits for any more is dropped. */
		queue_if_event(m, msg);
		json_decref(msg);
	}
	return KH_OK;
}

static int read_greeting(struct monitor *m, struct error *e)
{
	int64_t deadline = clock_ms() + m->timeout_ms;
	json_t *msg, *qemu;

	for (;;) {
		if (read_message(m, deadline, "greeting", &msg, e) != KH_OK) {
			/* a signal is said as such, not as QEMU's silence */
			if (e->code == KH_ETIMEOUT && strstr(e->msg, "interrupted") == NULL)
				error_set(e, KH_ETIMEOUT,
					  "no greeting from the QEMU monitor within "
					  "%d ms (is another client connected?)",
					  m->timeout_ms);
			return e->code;
		}
		if (!queue_if_event(m, msg))
			break;
		json_decref(msg);
	}
	qemu = json_object_get(json_object_get(json_object_get(msg, "QMP"),
					       "version"), "qemu");
	if (!json_is_object(qemu)) {
		json_decref(msg);
		return error_set(e, KH_EUSAGE,
				 "not a QMP monitor: the greeting has no QEMU version");
	}
	m->version[0] = (int)json_integer_value(json_object_get(qemu, "major"));
	m->version[1] = (int)json_integer_value(json_object_get(qemu, "minor"));
	m->version[2] = (int)json_integer_value(json_object_get(qemu, "micro"));
	m->greeted = true;
	json_decref(msg);
	return KH_OK;
}

int monitor_attach(struct monitor **mp, int fd, int timeout_ms,
		   struct error *e)
{
	struct monitor *m = calloc(1, sizeof(*m));

	*mp = NULL;
	if (m == NULL || (m->events = json_array()) == NULL) {
		free(m);
		close(fd);
		return error_nomem(e);
	}
	m->fd = fd;
	m->timeout_ms = timeout_ms;
	/* qmp_capabilities goes out without waiting for its answer: QEMU
	 * takes the commands sent behind it in order, once it is through, so
	 * the first of them costs no round trip of its own */
	if (read_greeting(m, e) != KH_OK ||
	    monitor_send(m, "qmp_capabilities", NULL, -1, &m->caps_id, e) != KH_OK) {
		monitor_close(m);
		return e->code;
	}
	m->caps_pending = true;
	*mp = m;
	return KH_OK;
}

int monitor_open(struct monitor **mp, const char *path, int timeout_ms,
		 struct error *e)
{
	int fd;

	*mp = NULL;
	if (connect_unix(path, clock_ms() + timeout_ms, &fd, e) != KH_OK)
		return e->code;
	if (monitor_attach(mp, fd, timeout_ms, e) != KH_OK)
		return error_prefix(e, "monitor %s: ", path);
	return KH_OK;
}

void monitor_close(struct monitor *m)
{
	if (m == NULL)
		return;
	close(m->fd);
	free(m->buf);
	json_decref(m->events);
	free(m);
}

pid_t monitor_peer_pid(const struct monitor *m)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(m->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1)
		return 0;
	return cred.pid;
}

void monitor_version(const struct monitor *m, int *major, int *minor,
		     int *micro)
{
	*major = m->version[0];
	*minor = m->version[1];
	*micro = m->version[2];
}
