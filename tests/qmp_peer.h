/* A scripted QMP peer for unit tests: a thread on one end of a socketpair
 * plays QEMU's part step by step, the code under test gets the other end.
 * peer_finish reports 0 only if every expectation held. */
#ifndef KH_QMP_PEER_H
#define KH_QMP_PEER_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum peer_op {
	PEER_SEND,	/* write text as it is (may be part of a message) */
	PEER_EXPECT,	/* read one line; it must contain text */
	PEER_EXPECT_FD,	/* the same, and an fd of the file at path arg must come with it */
	PEER_PAUSE,	/* sleep ms */
	PEER_HANG,	/* stop answering; wait for the client to close */
	PEER_END,	/* close the socket */
};

struct peer_step {
	enum peer_op op;
	const char *text;
	int ms;
	const char *path;
};

#define GREETING "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, " \
	"\"minor\": 2, \"major\": 7}, \"package\": \"Debian\"}, " \
	"\"capabilities\": [\"oob\"]}}\r\n"
#define CAPS_OK { PEER_EXPECT, "qmp_capabilities", 0, NULL }, \
	{ PEER_SEND, "{\"return\": {}, \"id\": \"kh-0\"}\r\n", 0, NULL }
#define HELLO { PEER_SEND, GREETING, 0, NULL }, CAPS_OK

static void peer_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1)
		;
}

/* Reads one line (and any fd sent with it) into line. */
static int peer_read_line(int fd, char *line, size_t size, int *passed_fd)
{
	size_t n = 0;

	*passed_fd = -1;
	while (n + 1 < size) {
		char cbuf[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { line + n, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		struct cmsghdr *c;

		if (recvmsg(fd, &mh, 0) != 1)
			return -1;
		c = CMSG_FIRSTHDR(&mh);
		if (c != NULL && c->cmsg_type == SCM_RIGHTS)
			memcpy(passed_fd, CMSG_DATA(c), sizeof(int));
		if (line[n++] == '\n')
			break;
	}
	line[n] = '\0';
	return 0;
}

/* The fd must refer to the same file as path. */
static int peer_same_file(int fd, const char *path)
{
	struct stat a, b;

	return fd >= 0 && fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int peer_step_run(int fd, const struct peer_step *s)
{
	char line[65536];
	int passed = -1, ok = 1;

	switch (s->op) {
	case PEER_SEND:
		return send(fd, s->text, strlen(s->text), MSG_NOSIGNAL) ==
		       (ssize_t)strlen(s->text);
	case PEER_EXPECT:
	case PEER_EXPECT_FD:
		if (peer_read_line(fd, line, sizeof(line), &passed) != 0)
			return 0;
		if (strstr(line, s->text) == NULL) {
			fprintf(stderr, "peer: expected '%s', got '%s'\n",
				s->text, line);
			ok = 0;
		}
		if (s->op == PEER_EXPECT_FD && !peer_same_file(passed, s->path)) {
			fprintf(stderr, "peer: no fd of %s came\n", s->path);
			ok = 0;
		}
		if (passed >= 0)
			close(passed);
		return ok;
	case PEER_PAUSE:
		peer_sleep_ms(s->ms);
		return 1;
	case PEER_HANG:
		while (read(fd, line, sizeof(line)) > 0)
			;
		return 1;
	case PEER_END:
		close(fd);
		return 1;
	}
	return 0;
}

struct peer {
	pthread_t thread;
	const struct peer_step *script;
	size_t n;
	int fd;
	int failed;
};

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	size_t i;
	char c;

	for (i = 0; i < p->n; i++)
		if (!peer_step_run(p->fd, &p->script[i]))
			break;
	p->failed = i < p->n;
	/* keep the socket open until the client is done */
	if (!p->failed && (p->n == 0 || p->script[p->n - 1].op != PEER_END))
		while (read(p->fd, &c, 1) > 0)
			;
	if (p->n == 0 || p->script[p->n - 1].op != PEER_END || p->failed)
		close(p->fd);
	return NULL;
}

/* Starts the peer; *client is the end for the code under test. */
static struct peer *peer_start(const struct peer_step *script, size_t n,
			       int *client)
{
	struct peer *p = calloc(1, sizeof(*p));
	int sv[2];

	if (p == NULL)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		free(p);
		return NULL;
	}
	p->script = script;
	p->n = n;
	p->fd = sv[1];
	*client = sv[0];
	pthread_create(&p->thread, NULL, peer_main, p);
	return p;
}

/* Joins the peer after the client closed its end: 0 when the whole
 * script ran as expected (an expectation still pending fails on EOF). */
static int peer_finish(struct peer *p)
{
	int failed;

	pthread_join(p->thread, NULL);
	failed = p->failed;
	free(p);
	return failed;
}

#endif
