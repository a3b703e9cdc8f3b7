/* Which process a pid is: what /proc says of it, so that a record made
 * for one QEMU process is told apart from another that has its pid (or
 * runs the same VM) later. */
#ifndef KH_PROC_H
#define KH_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* "PID:START:BOOT" into out: the pid, its start time (clock ticks after
 * boot, /proc/PID/stat field 22) and the boot's id
 * (/proc/sys/kernel/random/boot_id), which together no other process
 * ever has. "" when the process cannot be looked at (pid 0: another pid
 * namespace's; gone; no /proc). */
void proc_identity(pid_t pid, char *out, size_t size);

/* Whether process pid has the file at path open (one of its fds is that
 * file: the same device and inode). False where it cannot be told. */
bool proc_has_open(pid_t pid, const char *path);

/* What a process may open: its effective user and groups, and its root
 * directory as this process sees it ("/" unless it runs chrooted). */
struct proc_creds {
	uid_t uid;
	gid_t gid;
	gid_t groups[32];
	int ngroups;
	char root[4096];
};

/* c for process pid, from /proc/PID/status and /proc/PID/root; false
 * where /proc cannot tell (pid 0: another pid namespace's; gone). */
bool proc_creds(pid_t pid, struct proc_creds *c);

/* Whether a process with c could open path as this process names it,
 * for reading (and writing): it runs chrooted elsewhere, or the search
 * permission of a directory on the way or the file's own permission for
 * its owner, group or others is missing; uid 0 may open anything. */
bool proc_may_open(const struct proc_creds *c, const char *path, bool write);

#endif
