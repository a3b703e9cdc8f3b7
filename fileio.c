/* Whole files, durably, and lock files: see fileio.h. */
#include <sys/file.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "fileio.h"

/* --- reading and writing --- */

int fio_read_all(int fd, const char *path, size_t max, char **out,
		 size_t *len, struct error *e)
{
	size_t n = 0, cap = 0;
	char *buf = NULL, *nbuf;
	ssize_t r;

	for (;;) {
		if (n == cap && cap > max)
			break;
		if (n == cap) {
			cap = cap ? cap * 2 : 65536;
			cap = cap > max ? max + 1 : cap;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				free(buf);
				return error_nomem(e);
			}
			buf = nbuf;
		}
		if ((r = read(fd, buf + n, cap - n)) == 0)
			break;
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			free(buf);
			return error_set(e, KH_EFAIL, "%s: %s", path,
					 strerror(errno));
		}
		n += r;
	}
	*out = buf;
	*len = n;
	return KH_OK;
}

int fio_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

int fio_sync_dir(const char *path, struct error *e)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd, rc = KH_OK;

	dir = slash == NULL ? strdup(".") : slash == path ? strdup("/") :
	    strndup(path, slash - path);
	if (dir == NULL)
		return error_nomem(e);
	if ((fd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC)) == -1 ||
	    fsync(fd) == -1)
		rc = error_set(e, KH_EFAIL, "%s: written, but syncing %s "
			       "failed: %s", path, dir, strerror(errno));
	if (fd != -1)
		close(fd);
	free(dir);
	return rc;
}

int fio_replace_text(const char *path, const char *text, struct error *e)
{
	char *tmp = NULL;
	int fd = -1, rc = KH_OK;

	if (asprintf(&tmp, "%s.tmp", path) == -1)
		return error_nomem(e);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		       0600)) == -1 || fio_write_all(fd, text, strlen(text)) == -1 ||
	    rename(tmp, path) == -1)
		rc = error_set(e, KH_EFAIL, "%s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	if (rc != KH_OK)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* --- a lock file with a deadline --- */

static volatile sig_atomic_t lock_timed_out;

static void lock_alarm(int sig)
{
	(void)sig;
	lock_timed_out = 1;
}

static struct timeval ms_to_tv(long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return tv;
}

/* Puts back the caller's timer, less the time we spent. */
static void restore_timer(struct itimerval *old, int64_t t0)
{
	long left;

	if (!timerisset(&old->it_value))
		return;		/* there was none; ours is already off */
	left = old->it_value.tv_sec * 1000 + old->it_value.tv_usec / 1000 -
	    (long)(clock_ms() - t0);
	old->it_value = ms_to_tv(left > 0 ? left : 1);
	setitimer(ITIMER_REAL, old, NULL);
}

/* flock() with a deadline. SIGALRM, without SA_RESTART, interrupts it
 * with EINTR. The timer keeps firing every 10 ms after the deadline so
 * that a signal landing just before flock() is entered cannot leave us
 * blocked for good. A signal of ours raised just before the timer goes
 * off may be delivered later than that (valgrind delivers signals at
 * its own pace; so would another thread): SIGALRM is blocked while ours
 * are drained and the caller's handler put back, so that it never
 * reaches the caller's handler. Returns 0, ETIMEDOUT or an errno. */
static int flock_timeout(int fd, int op, int timeout_ms)
{
	struct sigaction sa = { .sa_handler = lock_alarm }, old_sa;
	struct itimerval it = {
		.it_value = ms_to_tv(timeout_ms), .it_interval = ms_to_tv(10)
	};
	struct itimerval off = { { 0, 0 }, { 0, 0 } }, old_it = off;
	struct timespec now = { 0, 0 };
	sigset_t sigalrm, mask;
	int64_t t0;
	int rc = 0;

	if (flock(fd, op | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return errno;
	if (timeout_ms <= 0)
		return ETIMEDOUT;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&sigalrm);
	sigaddset(&sigalrm, SIGALRM);
	lock_timed_out = 0;
	t0 = clock_ms();
	if (sigaction(SIGALRM, &sa, &old_sa) == -1)
		return errno;
	if (setitimer(ITIMER_REAL, &it, &old_it) == -1)
		rc = errno;
	while (rc == 0 && flock(fd, op) == -1)
		rc = errno != EINTR ? errno : lock_timed_out ? ETIMEDOUT : 0;
	/* ours off and its last signal gone before the caller's handler
	 * and timer are back */
	sigprocmask(SIG_BLOCK, &sigalrm, &mask);
	setitimer(ITIMER_REAL, &off, NULL);
	while (sigtimedwait(&sigalrm, NULL, &now) == SIGALRM)
		;
	sigaction(SIGALRM, &old_sa, NULL);
	restore_timer(&old_it, t0);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	return rc;
}

/* Opens the lock file: for a writer created if missing; a reader takes
 * an existing one read-only where it may not create or write (a
 * read-only filesystem), and none at all where there is none (-1 with
 * err 0). */
static int open_lock(const char *lock_path, bool shared, int *err)
{
	int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

	*err = fd == -1 ? errno : 0;
	if (fd != -1 || !shared || (errno != EROFS && errno != EACCES))
		return fd;
	fd = open(lock_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	*err = fd == -1 && errno != ENOENT ? errno : 0;
	return fd;
}

int fio_lock(const char *path, bool shared, int timeout_ms, int *fd)
{
	int err;

	*fd = open_lock(path, shared, &err);
	if (*fd == -1)
		return err;
	err = flock_timeout(*fd, shared ? LOCK_SH : LOCK_EX, timeout_ms);
	if (err != 0) {
		close(*fd);
		*fd = -1;
	}
	return err;
}
