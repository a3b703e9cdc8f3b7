/* The one way every unit test program runs its suite. */
#ifndef KH_CHECK_RUN_H
#define KH_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

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

#endif
