/* proc.c: what /proc tells of a process (this one), and whether a
 * process of given credentials may open a path. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../proc.h"
#include "check_run.h"

static char dir[64], file[96];

static void make_files(void)
{
	int fd;

	scratch_dir_make(dir, sizeof(dir), "test_proc");
	snprintf(file, sizeof(file), "%s/img", dir);
	if ((fd = open(file, O_CREAT | O_WRONLY, 0600)) == -1)
		abort();
	close(fd);
}

static void remove_files(void)
{
	scratch_dir_remove(dir);
}

/* This process: its own user and group, root "/". */
START_TEST(creds_of_self)
{
	struct proc_creds c;

	ck_assert(proc_creds(getpid(), &c));
	ck_assert_uint_eq(c.uid, geteuid());
	ck_assert_uint_eq(c.gid, getegid());
	ck_assert_str_eq(c.root, "/");
	ck_assert(!proc_creds(0, &c));	/* another pid namespace's */
}
END_TEST

/* The owner's, group's and others' bits, each directory's search bit on
 * the way, a chroot (nothing by our paths), and uid 0. */
START_TEST(may_open_by_the_bits)
{
	struct proc_creds owner = { .uid = 4242, .gid = 4242, .root = "/" };
	struct proc_creds group = { .uid = 4343, .gid = 9, .root = "/" };
	struct proc_creds other = { .uid = 4444, .gid = 4444, .root = "/" };
	struct proc_creds boss = { .uid = 0, .gid = 0, .root = "/" };
	struct proc_creds jailed = { .uid = 0, .gid = 0, .root = "/srv/jail" };

	ck_assert_int_eq(chown(file, 4242, 4242), 0);
	ck_assert_int_eq(chmod(dir, 0711), 0);
	ck_assert_int_eq(chmod(file, 0600), 0);
	ck_assert(proc_may_open(&owner, file, true));
	ck_assert(!proc_may_open(&other, file, false));
	ck_assert(proc_may_open(&boss, file, true));
	ck_assert(!proc_may_open(&jailed, file, false));
	ck_assert_int_eq(chmod(file, 0644), 0);
	ck_assert(proc_may_open(&other, file, false));
	ck_assert(!proc_may_open(&other, file, true));
	/* a supplementary group */
	ck_assert_int_eq(chown(file, 4242, 77), 0);
	ck_assert_int_eq(chmod(file, 0660), 0);
	ck_assert(!proc_may_open(&group, file, true));
	group.groups[group.ngroups++] = 77;
	ck_assert(proc_may_open(&group, file, true));
	/* a directory on the way without search permission for others */
	ck_assert_int_eq(chmod(file, 0666), 0);
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert(!proc_may_open(&other, file, false));
	ck_assert(!proc_may_open(&other, "/nonexistent/img", false));
}
END_TEST

static Suite *proc_suite(void)
{
	Suite *s = suite_create("proc");
	TCase *tc = check_case("proc");

	tcase_add_unchecked_fixture(tc, make_files, remove_files);
	tcase_add_test(tc, creds_of_self);
	tcase_add_test(tc, may_open_by_the_bits);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(proc_suite());
}
