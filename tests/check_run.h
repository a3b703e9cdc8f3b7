/* The one way every unit test program runs its suite. */
#ifndef KH_CHECK_RUN_H
#define KH_CHECK_RUN_H

#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>

/* A bound on a hang: the timeout a test gives whatever must answer or
 * finish (a scripted peer, a script, a lock held a moment, the kernel
 * letting go of an interface), never reached on a machine however busy.
 * A test of a timeout gives a short one to something that never ends
 * and asserts that it fired, never how soon: a test's outcome does not
 * depend on the machine's speed (timings are bench/'s). */
#define HANG_MS 60000

/* A test case named name. Its bound on a hang is above HANG_MS, so that
 * a wait that reached HANG_MS is reported by the test's own assertion,
 * and far above check's 4 s, which a busy machine can reach. Under
 * valgrind (CK_FORK=no) check has none: `make unit` bounds the run. */
static inline TCase *check_case(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 2 * HANG_MS / 1000);
	return tc;
}

/* Runs s (taking it) and returns main()'s exit status. */
static inline int check_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int scratch_remove_entry(const char *path, const struct stat *st,
				int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh directory /tmp/NAME.XXXXXX for a test's files, in dir. */
static inline void scratch_dir_make(char *dir, size_t size, const char *name)
{
	snprintf(dir, size, "/tmp/%s.XXXXXX", name);
	if (mkdtemp(dir) == NULL)
		abort();
}

/* Removes it with everything in it. */
static inline void scratch_dir_remove(const char *dir)
{
	nftw(dir, scratch_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
