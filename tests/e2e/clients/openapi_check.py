"""Checks real HTTP exchanges against ParWatch's OpenAPI document.

Usage: openapi_check.py DOCUMENT EXCHANGES

DOCUMENT is the JSON served at /api/v1/openapi.json. EXCHANGES is a JSON array of
{"method", "path" (the document's template, e.g. /api/v1/metrics/{name}), "url",
"status", "content_type", "body"} the Rust test recorded against the real server.

The document itself must be valid OpenAPI (openapi-spec-validator). Each exchange's status
must be declared for its operation, its content type declared for that status, and a JSON
body must validate against the declared schema (jsonschema, JSON Schema 2020-12 as OpenAPI
3.1 uses). Every operation must have been exercised with a 2xx answer. Prints one line per
failure and exits 1 if there is any; prints a summary otherwise.
"""

import json
import sys

import jsonschema
from openapi_spec_validator import validate


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        document = json.load(f)
    with open(sys.argv[2], encoding="utf-8") as f:
        exchanges = json.load(f)

    validate(document)

    failures = []
    succeeded = set()
    checked_bodies = 0
    for x in exchanges:
        where = f'{x["method"]} {x["url"]} -> {x["status"]}'
        operation = document["paths"].get(x["path"], {}).get(x["method"].lower())
        if operation is None:
            failures.append(f"{where}: no operation {x['method']} {x['path']} in the document")
            continue
        response = operation["responses"].get(str(x["status"]))
        if response is None:
            declared = ", ".join(sorted(operation["responses"]))
            failures.append(f"{where}: status not declared (declared: {declared})")
            continue
        if 200 <= x["status"] < 300:
            succeeded.add((x["method"].lower(), x["path"]))
        media = (x["content_type"] or "").split(";")[0].strip()
        content = response.get("content", {})
        if media not in content:
            failures.append(f"{where}: content type {media!r} not declared ({sorted(content)})")
            continue
        schema = content[media].get("schema")
        if media != "application/json" or schema is None:
            continue
        try:
            body = json.loads(x["body"])
        except json.JSONDecodeError as e:
            failures.append(f"{where}: body is not JSON: {e}")
            continue
        # The components travel with the schema so that its $refs resolve.
        root = {"components": document.get("components", {}), **schema}
        validator = jsonschema.Draft202012Validator(root)
        errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        for e in errors[:3]:
            path = "/".join(str(p) for p in e.absolute_path)
            failures.append(f"{where}: body at /{path}: {e.message[:300]}")
        checked_bodies += 1

    for path, item in document["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "patch", "delete") and (method, path) not in succeeded:
                failures.append(f"{method.upper()} {path}: never answered 2xx in the test")

    for line in failures:
        print(line)
    operations = sum(
        1 for item in document["paths"].values() for m in item if m in ("get", "post", "put", "patch", "delete")
    )
    print(
        f"operations={operations} exchanges={len(exchanges)} json_bodies={checked_bodies} failures={len(failures)}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
