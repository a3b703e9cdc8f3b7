/* What a run prints: see output.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "kind.h"
#include "output.h"

/* Prints a JSON result on stdout; takes the reference. */
void print_json(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);

	if (text != NULL)
		printf("%s\n", text);
	free(text);
	json_decref(obj);
}

/* What an add or remove did, for --json or as a line of text. */
json_t *change_result(const char *what, const struct rt_device *d)
{
	json_t *res = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "result", what,
				"kind", rt_kind_name(d->kind), "uuid", d->uuid,
				"id", d->id, "bus", d->bus, "slot", d->slot);

	if (res != NULL && kind_ops(d->kind)->describe != NULL)
		kind_ops(d->kind)->describe(res, d, false);
	return res;
}

void print_result(const struct options *o, json_t *res)
{
	if (o->dry_run) {	/* the plan is the result (cmd.c) */
		json_decref(res);
		return;
	}
	if (o->results != NULL) {
		json_array_append_new(o->results, res);
		return;
	}
	if (o->json) {
		print_json(res);
		return;
	}
	if (!o->quiet && res != NULL && json_object_get(res, "note") != NULL)
		printf("%s %s %s: %s\n",
		       json_string_value(json_object_get(res, "result")),
		       json_string_value(json_object_get(res, "kind")),
		       json_string_value(json_object_get(res, "uuid")),
		       json_string_value(json_object_get(res, "note")));
	else if (!o->quiet && res != NULL)
		printf("%s %s %s: %s at %s slot %d\n",
		       json_string_value(json_object_get(res, "result")),
		       json_string_value(json_object_get(res, "kind")),
		       json_string_value(json_object_get(res, "uuid")),
		       json_string_value(json_object_get(res, "id")),
		       json_string_value(json_object_get(res, "bus")),
		       (int)json_integer_value(json_object_get(res, "slot")));
	json_decref(res);
}

void print_verdict(struct options *o, json_t *res, const struct error *e)
{
	if (res != NULL && e->code != KH_OK) {
		json_object_set_new(res, "error", json_string(e->msg));
		json_object_set_new(res, "exit", json_integer(e->code));
	}
	print_json(res);
	o->reported = true;
}

json_t *dry_run_result(const struct options *o, const struct runtime *rt,
		       struct error *e)
{
	char *text = NULL;
	size_t len;
	json_t *res;

	if (runtime_format(rt, &text, &len, e) != KH_OK)
		return NULL;
	res = json_pack("{s:b, s:O, s:s, s:s%}", "dry-run", true, "plan",
			o->plan, "runtime", rt->path, "file", text, len);
	free(text);
	if (res == NULL)
		error_nomem(e);
	return res;
}

void print_dry_run(const struct options *o, json_t *res)
{
	const char *text = json_string_value(json_object_get(res, "file"));
	size_t i, len = text != NULL ? strlen(text) : 0;
	json_t *step;

	if (o->json) {
		print_json(res);
		return;
	}
	json_array_foreach(json_object_get(res, "plan"), i, step)
		print_json(json_incref(step));
	printf("--- %s as it would be written:\n%s%s",
	       json_string_value(json_object_get(res, "runtime")),
	       text != NULL ? text : "",
	       len > 0 && text[len - 1] == '\n' ? "" : "\n");
	json_decref(res);
}
