/* Everything a run says on standard error, each line prefixed with
 * "kvm-hotplug: " here alone: its one error line, warnings, notices and
 * progress for -v (the style: docs/design.md, "Messages"; checked by
 * tests/messages.py). Standard output carries only results (output.h). */
#ifndef KH_LOG_H
#define KH_LOG_H

#include "options.h"

/* Progress for -v: each step of a plan as it is sent and answered, how
 * long the guest took. */
void verbose(const struct options *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Always said, as "kvm-hotplug: warning: ...": what went wrong beside a
 * change that went through. */
void warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Always said (and the one error line main prints): what settling an interrupted run did is news to the
 * caller. */
void notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
