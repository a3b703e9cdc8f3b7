/* Which process a pid is: see proc.h. */
#include <sys/stat.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

bool proc_creds(pid_t pid, struct proc_creds *c)
{
	char path[64], line[512];
	bool uid = false, gid = false;
	ssize_t n;
	FILE *f;

	memset(c, 0, sizeof(*c));
	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	if ((n = readlink(path, c->root, sizeof(c->root) - 1)) <= 0)
		return false;
	c->root[n] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return false;
	/* "Uid: real effective saved fs": the effective one opens */
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long v;
		char *p = line + 7, *end;

		if (sscanf(line, "Uid: %*u %lu", &v) == 1) {
			c->uid = (uid_t)v;
			uid = true;
		} else if (sscanf(line, "Gid: %*u %lu", &v) == 1) {
			c->gid = (gid_t)v;
			gid = true;
		} else if (strncmp(line, "Groups:", 7) == 0) {
			while (c->ngroups < 32 && (v = strtoul(p, &end, 10), end != p)) {
				c->groups[c->ngroups++] = (gid_t)v;
				p = end;
			}
		}
	}
	fclose(f);
	return uid && gid;
}

static bool in_group(const struct proc_creds *c, gid_t g)
{
	if (g == c->gid)
		return true;
	for (int i = 0; i < c->ngroups; i++)
		if (c->groups[i] == g)
			return true;
	return false;
}

/* Whether c has the permission bits want (r=4, w=2, x=1) on st. */
static bool permits(const struct proc_creds *c, const struct stat *st, int want)
{
	int bits = st->st_uid == c->uid ? (int)(st->st_mode >> 6) & 7 :
		   in_group(c, st->st_gid) ? (int)(st->st_mode >> 3) & 7 :
		   (int)st->st_mode & 7;

	return (bits & want) == want;
}

bool proc_may_open(const struct proc_creds *c, const char *path, bool write)
{
	char dir[4096];
	struct stat st;
	char *slash;

	if (strcmp(c->root, "/") != 0)
		return false;
	if (c->uid == 0)
		return true;
	if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
		return false;
	/* every directory on the way, from the file's up to / */
	for (slash = strrchr(dir, '/'); slash != NULL; slash = strrchr(dir, '/')) {
		*slash = '\0';
		if (stat(dir[0] != '\0' ? dir : "/", &st) == -1 ||
		    !permits(c, &st, 1))
			return false;
		if (dir[0] == '\0')
			break;
	}
	return stat(path, &st) == 0 && permits(c, &st, write ? 6 : 4);
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
