/* File-system mechanisms that know no format and no runtime file: a
 * whole file read with a limit, a complete write, the directory sync that
 * makes a rename durable, and a lock file taken with a deadline. */
#ifndef KH_FILEIO_H
#define KH_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Reads fd to its end into a malloc'd *out (*len bytes), but never more
 * than max + 1 bytes: enough for the caller to tell it is too large
 * without holding a larger file. KH_EFAIL "PATH: reason" on a read
 * error. */
int fio_read_all(int fd, const char *path, size_t max, char **out,
		 size_t *len, struct error *e);

/* Writes all len bytes of buf to fd (EINTR is retried): 0, or -1 with
 * errno. */
int fio_write_all(int fd, const char *buf, size_t len);

/* Makes a rename to path durable: fsyncs the directory path is in.
 * KH_EFAIL "PATH: written, but syncing DIR failed: reason". */
int fio_sync_dir(const char *path, struct error *e);

/* path's contents replaced by text, atomically (a reader sees the old
 * text or the new, whole): written (0600, never through a symlink) as
 * PATH.tmp and renamed over path. Not synced: what it keeps (the intent
 * record, a failed hook's environment) is about one QEMU process, which a
 * crash of the host ends (docs/design.md, "What each fsync protects").
 * On failure path is as it was: KH_EFAIL "PATH: why". */
int fio_replace_text(const char *path, const char *text, struct error *e);

/* Opens path and locks it, exclusively or (shared) together with other
 * readers, waiting at most timeout_ms for a holder to let go: a blocking
 * flock(2) that a one-shot SIGALRM timer interrupts; a timer the caller
 * had set is put back, less the time spent. A writer creates path (0600)
 * if it is missing. A reader that may not create or write it (a
 * read-only filesystem) takes an existing one read-only, and none at all
 * where there is none: 0 with *fd -1. Returns 0 with the locked fd
 * (close-on-exec; closing it lets go) in *fd, or an errno with *fd -1:
 * ETIMEDOUT when the wait ran out. */
int fio_lock(const char *path, bool shared, int timeout_ms, int *fd);

#endif
