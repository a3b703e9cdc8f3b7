/* What a run prints: results on stdout (text, or one JSON object), progress
 * (-v) and notices on stderr. */
#ifndef KH_OUTPUT_H
#define KH_OUTPUT_H

#include <jansson.h>

#include "options.h"
#include "runtime.h"

/* What an add or remove did, for --json or as a line of text. */
json_t *change_result(const char *what, const struct rt_device *d);

void notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a JSON result on stdout; takes the reference. */
void print_json(json_t *obj);

void print_result(const struct options *o, json_t *res);

/* --dry-run: the steps gathered in o->plan, and rt as it would be
 * written: JSON lines and the file's text, or with --json one object. */
int print_dry_run(const struct options *o, const struct runtime *rt,
		  struct error *e);

/* Progress for -v, on stderr: stdout carries only the result. */
void verbose(const struct options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
