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

#endif
