/* Fault points for the tests: see fault.h. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "fault.h"

#ifdef KH_FAULT_INJECTION
void fault_point(const char *name)
{
	const char *kill_at = getenv("KH_FAULT");
	const char *pause_at = getenv("KH_FAULT_PAUSE");

	if (kill_at != NULL && strcmp(kill_at, name) == 0)
		raise(SIGKILL);
	if (pause_at != NULL && strcmp(pause_at, name) == 0)
		raise(SIGSTOP);
}
#else
typedef int kh_no_fault_points;	/* ISO C wants something here */
#endif
