#!/usr/bin/env python3
"""Validate JSON messages (one per line) against a segstream JSON Schema.

usage: validate.py SCHEMA.json MESSAGES.jsonl
Exit 0 when every line is valid; otherwise prints each failure and exits 1.
"""
import json
import sys

import jsonschema


def main() -> int:
    schema = json.load(open(sys.argv[1]))
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    lines = [l for l in open(sys.argv[2]).read().splitlines() if l.strip()]
    if not lines:
        print("no messages to validate")
        return 1
    for n, line in enumerate(lines):
        try:
            msg = json.loads(line)
        except json.JSONDecodeError as e:
            print(f"line {n}: not JSON: {e}")
            bad += 1
            continue
        for err in validator.iter_errors(msg):
            print(f"line {n}: {err.json_path}: {err.message}")
            bad += 1
    print(f"{len(lines)} messages, {bad} errors")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
