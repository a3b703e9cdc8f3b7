/* Which process a pid is: see proc.h. */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "proc.h"

/* The first line of path, without its newline, into out ("" if none). */
static void first_line(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "re");

	out[0] = '\0';
	if (f == NULL)
		return;
	if (fgets(out, (int)size, f) == NULL)
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	fclose(f);
}

void proc_identity(pid_t pid, char *out, size_t size)
{
	char path[64], stat[1024], boot[64];
	unsigned long long start;
	const char *after;

	out[0] = '\0';
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	first_line(path, stat, sizeof(stat));
	first_line("/proc/sys/kernel/random/boot_id", boot, sizeof(boot));
	/* the name in parentheses may hold anything, ')' too: the fields
	 * after it start at its last one; starttime is the 20th of them */
	if ((after = strrchr(stat, ')')) == NULL || boot[0] == '\0' ||
	    sscanf(after + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
		   "%*u %*u %*d %*d %*d %*d %*d %*d %llu", &start) != 1)
		return;
	snprintf(out, size, "%d:%llu:%s", (int)pid, start, boot);
}

bool proc_has_open(pid_t pid, const char *path)
{
	char dir[64];
	struct stat want, st;
	struct dirent *ent;
	bool found = false;
	DIR *d;
	int dfd;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if (pid <= 0 || stat(path, &want) == -1 || (d = opendir(dir)) == NULL)
		return false;
	dfd = dirfd(d);
	while (!found && (ent = readdir(d)) != NULL)
		found = ent->d_name[0] != '.' && fstatat(dfd, ent->d_name, &st, 0) == 0 &&
			st.st_dev == want.st_dev && st.st_ino == want.st_ino;
	closedir(d);
	return found;
}
