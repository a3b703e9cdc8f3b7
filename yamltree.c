/* The YAML tree: see yamltree.h. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "yamltree.h"

#define MAX_DEPTH	64	/* deeper nesting is refused, not recursed into */
#define DIGITS		"0123456789"

struct parser {
	yaml_parser_t yp;
	const struct yt_source *s;
};

struct yt_emitter {
	yaml_emitter_t ye;
	char *buf;
	size_t len, cap;
	struct error *e;
};

/* Integers and floats of YAML 1.1 and 1.2, loosely: digits with '_', ':'
 * (base 60) and '.', then an exponent. */
static bool looks_decimal(const char *p)
{
	size_t n = strspn(p, DIGITS "_:.");

	if (n == 0 || strcspn(p, DIGITS) >= n)
		return false;
	p += n;
	if (*p == 'e' || *p == 'E') {
		p++;
		p += *p == '+' || *p == '-';
		n = strspn(p, DIGITS);
		if (n == 0)
			return false;
		p += n;
	}
	return *p == '\0';
}

bool yt_needs_quotes(const char *s)
{
	static const char *const words[] = {
		"", "~", "null", "true", "false", "yes", "no", "on", "off",
		"y", "n", "<<", "=", NULL
	};
	const char *p = s + (*s == '+' || *s == '-');

	for (size_t i = 0; words[i] != NULL; i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	if (strcasecmp(p, ".inf") == 0 || strcasecmp(p, ".nan") == 0)
		return true;
	if (p[0] == '0' && p[1] != '\0' && strchr("xXoObB", p[1]) != NULL)
		return p[2 + strspn(p + 2, DIGITS "abcdefABCDEF_")] == '\0';
	return looks_decimal(p) || (strspn(s, DIGITS) == 4 && s[4] == '-');
}

/* --- the tree --- */

void yt_free(struct yt_node *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n; i++)
		yt_free(n->item[i]);
	free(n->item);
	free(n->value);
	free(n);
}

static int node_append(struct parser *p, struct yt_node *n,
		       struct yt_node *child)
{
	if (n->n == n->cap) {
		size_t cap = n->cap ? n->cap * 2 : 8;
		struct yt_node **item = reallocarray(n->item, cap,
						     sizeof(*item));

		if (item == NULL) {
			yt_free(child);
			return error_nomem(p->s->e);
		}
		n->item = item;
		n->cap = cap;
	}
	n->item[n->n++] = child;
	return KH_OK;
}

bool yt_key_is(const struct yt_node *key, const char *name)
{
	return key->len == strlen(name) &&
	    memcmp(key->value, name, key->len) == 0;
}

const struct yt_node *yt_map_get(const struct yt_node *map, const char *key)
{
	for (size_t i = 0; i < map->n; i += 2)
		if (yt_key_is(map->item[i], key))
			return map->item[i + 1];
	return NULL;
}

const char *yt_show(const struct yt_node *n)
{
	if (n->type == YT_SCALAR)
		return n->value;
	return n->type == YT_SEQUENCE ? "[...]" : "{...}";
}

/* --- parsing: libyaml's events into the tree --- */

/* The line of byte off in the input. */
static int offset_line(const struct yt_source *s, size_t off)
{
	int line = 1;

	for (size_t i = 0; i < off && i < s->len; i++)
		line += s->buf[i] == '\n';
	return line;
}

int yt_bad(const struct yt_source *s, int line, const char *fmt, ...)
{
	int last = offset_line(s, s->len);
	char msg[400];
	va_list ap;

	/* libyaml's marks can point just past the end, to a line the user
	 * does not see in an editor */
	if (s->len > 0 && s->buf[s->len - 1] == '\n' && last > 1)
		last--;
	if (line > last)
		line = last;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_set(s->e, KH_EUSAGE, "%s: line %d: %s", s->name, line,
			 msg);
}

static int syntax_error(struct parser *p)
{
	const yaml_parser_t *yp = &p->yp;
	const char *problem = yp->problem ? yp->problem : "syntax error";

	if (yp->error == YAML_MEMORY_ERROR)
		return error_nomem(p->s->e);
	/* for an encoding error libyaml gives the offset, not the line */
	if (yp->error == YAML_READER_ERROR)
		return yt_bad(p->s, offset_line(p->s, yp->problem_offset), "%s",
			      problem);
	if (yp->context != NULL)
		return yt_bad(p->s, (int)yp->problem_mark.line + 1,
			      "%s %s started on line %d", problem, yp->context,
			      (int)yp->context_mark.line + 1);
	return yt_bad(p->s, (int)yp->problem_mark.line + 1, "%s", problem);
}

static int next_event(struct parser *p, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&p->yp, ev))
		return syntax_error(p);
	return KH_OK;
}

static int event_line(const yaml_event_t *ev)
{
	return (int)ev->start_mark.line + 1;
}

/* Anchors and aliases would make one value stand for another, tags would
 * change a value's type: refused rather than interpreted. */
static int check_props(struct parser *p, const yaml_event_t *ev)
{
	const yaml_char_t *anchor = NULL, *tag = NULL;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		anchor = ev->data.alias.anchor;
		break;
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		tag = ev->data.scalar.tag;
		break;
	case YAML_SEQUENCE_START_EVENT:
		anchor = ev->data.sequence_start.anchor;
		tag = ev->data.sequence_start.tag;
		break;
	case YAML_MAPPING_START_EVENT:
		anchor = ev->data.mapping_start.anchor;
		tag = ev->data.mapping_start.tag;
		break;
	default:
		break;
	}
	if (anchor != NULL)
		return yt_bad(p->s, event_line(ev),
			      "anchors and aliases are not supported");
	if (tag != NULL)
		return yt_bad(p->s, event_line(ev), "tags are not supported");
	return KH_OK;
}

static struct yt_node *node_new(enum yt_type type, const yaml_event_t *ev)
{
	struct yt_node *n = calloc(1, sizeof(*n));

	if (n != NULL) {
		n->type = type;
		n->line = event_line(ev);
	}
	return n;
}

static int build_scalar(struct parser *p, const yaml_event_t *ev,
			struct yt_node **out)
{
	struct yt_node *n = node_new(YT_SCALAR, ev);
	size_t len = ev->data.scalar.length;

	if (n == NULL || (n->value = malloc(len + 1)) == NULL) {
		free(n);
		return error_nomem(p->s->e);
	}
	memcpy(n->value, ev->data.scalar.value, len);
	n->value[len] = '\0';
	n->len = len;
	n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	*out = n;
	return KH_OK;
}

static int cmp_key(const void *a, const void *b)
{
	const struct yt_node *x = *(struct yt_node *const *)a;
	const struct yt_node *y = *(struct yt_node *const *)b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return memcmp(x->value, y->value, x->len);
}

/* Keys must be scalars and unique. They are compared sorted so that a
 * hostile file with many keys costs n log n, not n squared. */
static int check_keys(struct parser *p, const struct yt_node *map)
{
	size_t nkeys = map->n / 2;
	struct yt_node **keys;
	int rc = KH_OK;

	for (size_t i = 0; i < map->n; i += 2)
		if (map->item[i]->type != YT_SCALAR)
			return yt_bad(p->s, map->item[i]->line,
				      "a mapping key must be a scalar");
	if (nkeys < 2)
		return KH_OK;
	if ((keys = calloc(nkeys, sizeof(*keys))) == NULL)
		return error_nomem(p->s->e);
	for (size_t i = 0; i < nkeys; i++)
		keys[i] = map->item[2 * i];
	qsort(keys, nkeys, sizeof(*keys), cmp_key);
	for (size_t i = 1; i < nkeys && rc == KH_OK; i++) {
		const struct yt_node *a = keys[i - 1], *b = keys[i];

		if (cmp_key(&a, &b) == 0)
			rc = yt_bad(p->s, a->line > b->line ? a->line : b->line,
				    "duplicate key '%.40s' (lines %d and %d)",
				    a->value, a->line < b->line ? a->line : b->line,
				    a->line > b->line ? a->line : b->line);
	}
	free(keys);
	return rc;
}

static int build_node(struct parser *p, const yaml_event_t *ev, int depth,
		      struct yt_node **out);

static int build_collection(struct parser *p, const yaml_event_t *start,
			    int depth, struct yt_node **out)
{
	bool map = start->type == YAML_MAPPING_START_EVENT;
	yaml_event_type_t end = map ? YAML_MAPPING_END_EVENT :
	    YAML_SEQUENCE_END_EVENT;
	struct yt_node *n, *child;
	yaml_event_t ev;
	int rc;

	if ((n = node_new(map ? YT_MAPPING : YT_SEQUENCE, start)) == NULL)
		return error_nomem(p->s->e);
	n->flow = map ?
	    start->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE :
	    start->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
	while ((rc = next_event(p, &ev)) == KH_OK && ev.type != end) {
		rc = build_node(p, &ev, depth + 1, &child);
		yaml_event_delete(&ev);
		if (rc != KH_OK || (rc = node_append(p, n, child)) != KH_OK)
			break;
	}
	yaml_event_delete(&ev);
	if (rc == KH_OK && map)
		rc = check_keys(p, n);
	if (rc != KH_OK) {
		yt_free(n);
		return rc;
	}
	*out = n;
	return KH_OK;
}

static int build_node(struct parser *p, const yaml_event_t *ev, int depth,
		      struct yt_node **out)
{
	int rc;

	if ((rc = check_props(p, ev)) != KH_OK)
		return rc;
	if (depth > MAX_DEPTH)
		return yt_bad(p->s, event_line(ev),
			      "nested more than %d levels deep", MAX_DEPTH);
	if (ev->type == YAML_SCALAR_EVENT)
		return build_scalar(p, ev, out);
	return build_collection(p, ev, depth, out);
}

/* Fetches an event whose content does not matter and returns its type. */
static int skip_event(struct parser *p, yaml_event_type_t *type, int *line)
{
	yaml_event_t ev;
	int rc;

	if ((rc = next_event(p, &ev)) != KH_OK)
		return rc;
	*type = ev.type;
	*line = event_line(&ev);
	yaml_event_delete(&ev);
	return KH_OK;
}

/* Up to the document's root: there must be exactly one document. */
static int start_document(struct parser *p)
{
	yaml_event_t ev;
	int rc;

	if ((rc = next_event(p, &ev)) != KH_OK)	/* the stream start */
		return rc;
	yaml_event_delete(&ev);
	if ((rc = next_event(p, &ev)) != KH_OK)
		return rc;
	if (ev.type == YAML_STREAM_END_EVENT)
		rc = yt_bad(p->s, 1, "file is empty");
	else if (ev.data.document_start.tag_directives.start !=
	    ev.data.document_start.tag_directives.end)
		rc = yt_bad(p->s, event_line(&ev), "tags are not supported");
	yaml_event_delete(&ev);
	return rc;
}

/* After the root: the document's end, then the stream's. */
static int end_document(struct parser *p)
{
	yaml_event_type_t type;
	int rc, line;

	if ((rc = skip_event(p, &type, &line)) != KH_OK ||
	    (rc = skip_event(p, &type, &line)) != KH_OK)
		return rc;
	if (type != YAML_STREAM_END_EVENT)
		return yt_bad(p->s, line, "more than one document");
	return KH_OK;
}

/* The stream's one document, which must be a mapping. */
static int build_document(struct parser *p, struct yt_node **doc)
{
	yaml_event_t ev;
	int rc;

	*doc = NULL;
	if ((rc = start_document(p)) != KH_OK ||
	    (rc = next_event(p, &ev)) != KH_OK)
		return rc;
	rc = build_node(p, &ev, 0, doc);
	yaml_event_delete(&ev);
	if (rc == KH_OK && (*doc)->type != YT_MAPPING)
		rc = yt_bad(p->s, (*doc)->line,
			    "the top level must be a mapping");
	if (rc == KH_OK)
		rc = end_document(p);
	if (rc != KH_OK) {
		yt_free(*doc);
		*doc = NULL;
	}
	return rc;
}

int yt_parse(const struct yt_source *s, struct yt_node **doc)
{
	struct parser p = { .s = s };
	int rc;

	*doc = NULL;
	if (!yaml_parser_initialize(&p.yp))
		return error_nomem(s->e);
	/* no guessing from byte order marks either */
	yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING);
	yaml_parser_set_input_string(&p.yp, (const unsigned char *)s->buf,
				     s->len);
	rc = build_document(&p, doc);
	yaml_parser_delete(&p.yp);
	return rc;
}

/* --- writing --- */

static int write_out(void *data, unsigned char *s, size_t n)
{
	struct yt_emitter *m = data;

	if (n >= m->cap - m->len) {	/* room for a final NUL too */
		size_t cap = m->cap * 2 > m->len + n ? m->cap * 2 :
		    m->len + n + 4096;
		char *buf = realloc(m->buf, cap);

		if (buf == NULL)
			return 0;
		m->buf = buf;
		m->cap = cap;
	}
	memcpy(m->buf + m->len, s, n);
	m->len += n;
	return 1;
}

/* Emits ev, which initialized says was set up. */
static int emit(struct yt_emitter *m, int initialized, yaml_event_t *ev)
{
	if (!initialized)
		return error_nomem(m->e);
	if (!yaml_emitter_emit(&m->ye, ev))
		return error_set(m->e, KH_EFAIL, "cannot format the runtime "
				 "file: %s", m->ye.problem ? m->ye.problem :
				 "out of memory");
	return KH_OK;
}

/* plain: as is if the emitter can, quoted otherwise; else quoted. */
static int emit_scalar(struct yt_emitter *m, const char *s, size_t len,
		       bool plain)
{
	yaml_event_t ev;

	if (!yaml_scalar_event_initialize(&ev, NULL, NULL,
	    (const yaml_char_t *)s, (int)len, plain, 1,
	    plain ? YAML_PLAIN_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE))
		return error_set(m->e, KH_EFAIL, "cannot write '%.40s' to the "
				 "runtime file: not valid UTF-8", s);
	return emit(m, 1, &ev);
}

int yt_emit_key(struct yt_emitter *m, const char *key)
{
	return emit_scalar(m, key, strlen(key), true);
}

int yt_emit_plain(struct yt_emitter *m, const char *s)
{
	return emit_scalar(m, s, strlen(s), true);
}

int yt_emit_string(struct yt_emitter *m, const char *s)
{
	return emit_scalar(m, s, strlen(s), !yt_needs_quotes(s));
}

int yt_emit_start(struct yt_emitter *m, enum yt_type type, bool flow)
{
	yaml_event_t ev;

	if (type == YT_SEQUENCE)
		return emit(m, yaml_sequence_start_event_initialize(&ev, NULL,
		    NULL, 1, flow ? YAML_FLOW_SEQUENCE_STYLE :
		    YAML_BLOCK_SEQUENCE_STYLE), &ev);
	return emit(m, yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
	    flow ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE), &ev);
}

int yt_emit_end(struct yt_emitter *m, enum yt_type type)
{
	yaml_event_t ev;

	if (type == YT_SEQUENCE)
		return emit(m, yaml_sequence_end_event_initialize(&ev), &ev);
	return emit(m, yaml_mapping_end_event_initialize(&ev), &ev);
}

/* A node as it was read. */
static int emit_node(struct yt_emitter *m, const struct yt_node *n)
{
	int rc;

	if (n->type == YT_SCALAR)
		return emit_scalar(m, n->value, n->len, n->plain);
	rc = yt_emit_start(m, n->type, n->flow);
	for (size_t i = 0; i < n->n && rc == KH_OK; i++)
		rc = emit_node(m, n->item[i]);
	return rc == KH_OK ? yt_emit_end(m, n->type) : rc;
}

/* A mapping with obj's keys (ks) where src had them, src's other keys
 * unchanged in their place, and then obj's keys that src lacked. */
int yt_emit_merged(struct yt_emitter *m, const struct yt_node *src,
		   const struct yt_keyset *ks, const void *obj)
{
	uint32_t seen = 0;
	int rc = yt_emit_start(m, YT_MAPPING, false);

	for (size_t i = 0; src != NULL && i < src->n && rc == KH_OK; i += 2) {
		int k = ks->lookup(src->item[i], obj);

		if (k >= 0) {
			seen |= UINT32_C(1) << k;
			rc = ks->emit(m, obj, k);
		} else if ((rc = emit_node(m, src->item[i])) == KH_OK)
			rc = emit_node(m, src->item[i + 1]);
	}
	for (size_t k = 0; k < ks->n && rc == KH_OK; k++)
		if (!(seen & (UINT32_C(1) << k)))
			rc = ks->emit(m, obj, k);
	return rc == KH_OK ? yt_emit_end(m, YT_MAPPING) : rc;
}

/* One document: the stream and the document around the mapping. */
static int emit_document(struct yt_emitter *m, const struct yt_node *src,
			 const struct yt_keyset *ks, const void *obj)
{
	yaml_event_t ev;
	int rc;

	if ((rc = emit(m, yaml_stream_start_event_initialize(&ev,
	    YAML_UTF8_ENCODING), &ev)) != KH_OK ||
	    (rc = emit(m, yaml_document_start_event_initialize(&ev, NULL, NULL,
	    NULL, 1), &ev)) != KH_OK ||
	    (rc = yt_emit_merged(m, src, ks, obj)) != KH_OK ||
	    (rc = emit(m, yaml_document_end_event_initialize(&ev, 1), &ev))
	    != KH_OK)
		return rc;
	return emit(m, yaml_stream_end_event_initialize(&ev), &ev);
}

int yt_write(const struct yt_node *src, const struct yt_keyset *ks,
	     const void *obj, char **out, size_t *len, struct error *e)
{
	struct yt_emitter m = { .e = e };
	int rc;

	if (!yaml_emitter_initialize(&m.ye))
		return error_nomem(e);
	yaml_emitter_set_output(&m.ye, write_out, &m);
	yaml_emitter_set_unicode(&m.ye, 1);
	yaml_emitter_set_width(&m.ye, -1);	/* never fold long values */
	rc = emit_document(&m, src, ks, obj);
	yaml_emitter_delete(&m.ye);
	if (rc != KH_OK) {
		free(m.buf);
		return rc;
	}
	m.buf[m.len] = '\0';
	*out = m.buf;
	*len = m.len;
	return KH_OK;
}
