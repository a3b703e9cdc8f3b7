#!/usr/bin/env python3
"""Validates a JSON document (stdin) against one of docs/schema/*.json:
exit 0 when it holds, 1 with the first violation on stderr."""
import json
import pathlib
import sys
import warnings

import jsonschema

# RefResolver is what Debian 12's jsonschema (4.10) has; newer ones warn
warnings.filterwarnings("ignore", category=DeprecationWarning)

schema_dir = pathlib.Path(sys.argv[1]).resolve().parent
schema = json.loads(pathlib.Path(sys.argv[1]).read_text())
store = {p.name: json.loads(p.read_text()) for p in schema_dir.glob("*.json")}
resolver = jsonschema.RefResolver(base_uri=schema["$id"], referrer=schema, store=store)
validator = jsonschema.Draft202012Validator(schema, resolver=resolver)
text = sys.stdin.read()
try:
    doc = json.loads(text)
except json.JSONDecodeError as err:
    sys.exit("not one JSON document: %s: %.200s" % (err, text))
errors = sorted(validator.iter_errors(doc), key=lambda e: e.path)
if errors:
    best = jsonschema.exceptions.best_match(errors)
    sys.exit("%s: %s (at %s) in %.300s" % (sys.argv[1], best.message,
                                           "/".join(map(str, best.path)), text))
