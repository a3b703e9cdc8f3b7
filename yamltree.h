/* A YAML document as a small tree of our own, read with libyaml and
 * written back so that what a reader does not interpret survives: every
 * node keeps its line (for messages), a scalar whether it was plain, a
 * collection its style. Writing merges an object's keys into the
 * mapping it was read from, the other keys unchanged in their place.
 * Comments do not survive: libyaml's parser does not report them.
 *
 * Generic: knows YAML, not what a runtime file means (native.c). */
#ifndef KH_YAMLTREE_H
#define KH_YAMLTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

enum yt_type { YT_SCALAR, YT_SEQUENCE, YT_MAPPING };

struct yt_node {
	enum yt_type type;
	int line;
	bool plain;		/* scalar written without quotes */
	bool flow;		/* collection written as [...] or {...} */
	char *value;		/* scalar, NUL-terminated (may hold NULs too) */
	size_t len;
	struct yt_node **item;	/* sequence: items; mapping: key, value... */
	size_t n, cap;
};

/* The text a tree is read from, and where its problems go. */
struct yt_source {
	const char *name;	/* in messages: "NAME: line N: problem" */
	const char *buf;	/* the input, to find the line of a bad byte */
	size_t len;
	struct error *e;
};

/* Sets s->e to KH_EUSAGE "NAME: line N: problem" (N no further than the
 * last line an editor shows) and returns KH_EUSAGE. */
int yt_bad(const struct yt_source *s, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Reads s's one document, which must be a mapping, into *doc (NULL on
 * failure: KH_EUSAGE with a line, KH_EFAIL when out of memory). Refused
 * rather than interpreted: anchors and aliases (one value standing for
 * another), tags (a value's type changed), duplicate or non-scalar
 * keys, more than one document, nesting deeper than 64 levels. */
int yt_parse(const struct yt_source *s, struct yt_node **doc);

/* Frees n and everything below it; NULL is nothing. */
void yt_free(struct yt_node *n);

/* Whether key, a scalar, is name. */
bool yt_key_is(const struct yt_node *key, const char *name);

/* The value of key in a mapping, NULL if absent. */
const struct yt_node *yt_map_get(const struct yt_node *map, const char *key);

/* A node's text for messages: a scalar's value, "[...]" or "{...}". */
const char *yt_show(const struct yt_node *n);

/* Would s, written plain, read back as something other than a string
 * (null, boolean, number, date) in YAML 1.1 or 1.2? Errs towards yes:
 * quoting too much is harmless, too little is not. */
bool yt_needs_quotes(const char *s);

/* --- writing --- */

struct yt_emitter;

/* The keys of a mapping that obj gives values to; the others are kept
 * as they were read. */
struct yt_keyset {
	size_t n;		/* at most 32 */
	/* index of key among obj's, -1 if it is not one */
	int (*lookup)(const struct yt_node *key, const void *obj);
	/* writes key k and its value, or nothing if obj has none */
	int (*emit)(struct yt_emitter *m, const void *obj, size_t k);
};

/* One document, its top-level mapping merged (yt_emit_merged) from src
 * (NULL: none was read), into a malloc'd NUL-terminated *out. */
int yt_write(const struct yt_node *src, const struct yt_keyset *ks,
	     const void *obj, char **out, size_t *len, struct error *e);

/* A mapping with obj's keys (ks) where src had them, src's other keys
 * unchanged in their place, and then obj's keys that src lacked. */
int yt_emit_merged(struct yt_emitter *m, const struct yt_node *src,
		   const struct yt_keyset *ks, const void *obj);

/* A mapping key. */
int yt_emit_key(struct yt_emitter *m, const char *key);

/* A string, quoted if it would read back as something else. */
int yt_emit_string(struct yt_emitter *m, const char *s);

/* s unquoted where the emitter can (a number), as it is. */
int yt_emit_plain(struct yt_emitter *m, const char *s);

/* The start and end of a sequence or a mapping; flow: [...] or {...}. */
int yt_emit_start(struct yt_emitter *m, enum yt_type type, bool flow);
int yt_emit_end(struct yt_emitter *m, enum yt_type type);

#endif
