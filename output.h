/* What a run prints on stdout: results (text, or one JSON object) and a
 * dry run's plan. Progress and notices go to stderr (log.h, included for
 * the files that print both). */
#ifndef KH_OUTPUT_H
#define KH_OUTPUT_H

#include <jansson.h>

#include "log.h"
#include "options.h"
#include "runtime.h"

/* What an add or remove did, for --json or as a line of text. */
json_t *change_result(const char *what, const struct rt_device *d);

/* Prints a JSON result on stdout; takes the reference. */
void print_json(json_t *obj);

void print_result(const struct options *o, json_t *res);

/* Prints (and takes) a command's one JSON object, with "error" and "exit"
 * added when e says the run failed, and marks the run reported: main
 * adds no object of its own. */
void print_verdict(struct options *o, json_t *res, const struct error *e);

/* --dry-run: what a run would do, as one object: the steps gathered in
 * o->plan and rt as it would be written, {"dry-run": true, "plan": [...],
 * "runtime": PATH, "file": TEXT}; NULL (and e set) on failure. */
json_t *dry_run_result(const struct options *o, const struct runtime *rt,
		       struct error *e);

/* Prints (and takes) such an object: with --json as it is, else each
 * step as a JSON line, then the file's text under a "--- PATH as it
 * would be written:" line. */
void print_dry_run(const struct options *o, json_t *res);

#endif
