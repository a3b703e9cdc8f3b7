/* What a run says on standard error besides its one error line: progress
 * for -v and notices. Standard output carries only results (output.h). */
#ifndef KH_LOG_H
#define KH_LOG_H

#include "options.h"

/* Progress for -v: each step of a plan as it is sent and answered, how
 * long the guest took. */
void verbose(const struct options *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Always said: what settling an interrupted run did is news to the
 * caller. */
void notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
