#!/usr/bin/env python3
"""Validate many JSON instances against one JSON Schema with the reference implementation.

Usage: validate_json.py SCHEMA [URI=FILE ...] < instances.json

SCHEMA is a schema file; each URI=FILE makes FILE the schema a `$ref` to URI resolves to. stdin
is a JSON array of instances. stdout is a JSON array with, per instance, the list of its errors
as {"message", "path"} (path is a JSON pointer into the instance; [] means valid). Formats are
asserted. Exit 2 if the schema itself is not a valid schema or an argument is wrong.

The test suite batches every instance of a test into one run: one interpreter start per test.
It works with jsonschema 4.10 (RefResolver) and 4.18+ (the `referencing` registry).
"""

import calendar
import json
import re
import sys

import jsonschema
from jsonschema.validators import validator_for

# RFC 3339 section 5.6 `date-time`. jsonschema checks it only when `rfc3339-validator` is
# installed, and Debian does not package that library; without this, a bad timestamp would pass
# silently.
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):(\d{2}))",
    re.ASCII,
)


def is_date_time(instance):
    if not isinstance(instance, str):
        return True
    m = _DATE_TIME.fullmatch(instance)
    if not m:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        return False
    # Seconds stop at 59, as in `rfc3339-validator`, so that both checkers agree.
    if hour > 23 or minute > 59 or second > 59:
        return False
    if m.group(9) is not None and (int(m.group(9)) > 23 or int(m.group(10)) > 59):
        return False
    return True


def format_checker(cls):
    checker = getattr(cls, "FORMAT_CHECKER", None) or jsonschema.FormatChecker()
    if "date-time" not in checker.checkers:
        checker.checks("date-time")(is_date_time)
    return checker


def validator(schema, resources):
    cls = validator_for(schema)
    # What `check_schema` does, minus asserting the metaschema's formats: jsonschema 4.18+ would
    # compile rfc3987's grammar on every run for the `$id`s alone, the bulk of a run's time.
    meta = validator_for(cls.META_SCHEMA, default=cls)
    error = jsonschema.exceptions.best_match(meta(cls.META_SCHEMA).iter_errors(schema))
    if error is not None:
        raise jsonschema.exceptions.SchemaError.create_from(error)
    checker = format_checker(cls)
    try:
        import referencing
        import referencing.jsonschema
    except ImportError:
        referencing = None
    if referencing is not None:
        default = referencing.jsonschema.specification_with(
            schema.get("$schema", ""), default=referencing.jsonschema.DRAFT202012
        )
        registry = referencing.Registry().with_resources(
            (uri, referencing.Resource.from_contents(contents, default_specification=default))
            for uri, contents in resources.items()
        )
        return cls(schema, format_checker=checker, registry=registry)
    resolver = jsonschema.RefResolver.from_schema(schema, store=resources)
    return cls(schema, format_checker=checker, resolver=resolver)


def pointer(path):
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def main(argv):
    if len(argv) < 2:
        sys.exit("usage: validate_json.py SCHEMA [URI=FILE ...] < instances.json")
    with open(argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    resources = {}
    for arg in argv[2:]:
        uri, sep, path = arg.partition("=")
        if not sep:
            print(f"{arg}: expected URI=FILE", file=sys.stderr)
            sys.exit(2)
        with open(path, encoding="utf-8") as f:
            resources[uri] = json.load(f)
    try:
        v = validator(schema, resources)
    except jsonschema.exceptions.SchemaError as e:
        print(f"{argv[1]} is not a valid schema: {e.message} at {pointer(e.absolute_path)}",
              file=sys.stderr)
        sys.exit(2)
    instances = json.load(sys.stdin)
    if not isinstance(instances, list):
        print("stdin must be a JSON array of instances", file=sys.stderr)
        sys.exit(2)
    results = [
        [{"message": e.message, "path": pointer(e.absolute_path)} for e in v.iter_errors(i)]
        for i in instances
    ]
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)
