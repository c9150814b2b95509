#!/usr/bin/env python3
"""Count test results from meson's testlog.json files.

Each TAP line of a test counts as one check; a test that printed no TAP (or
crashed before its plan) counts by its overall result.  Prints per-suite
counts and, last, "N passed, N failed".  Exit 1 if anything failed."""
import json
import re
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        print(f"missing {path}: {e}")
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        out = t.get("stdout") or ""
        oks = len(re.findall(r"^ok \d+", out, re.M))
        noks = len(re.findall(r"^not ok \d+", out, re.M))
        res = t.get("result")
        if res == "SKIP":
            skipped += 1
            continue
        if res not in ("OK", "EXPECTEDFAIL") and noks == 0:
            noks = 1  # crashed, timed out, or bad plan: count it
        passed += oks if (oks or noks) else (1 if res == "OK" else 0)
        failed += noks
        if res not in ("OK", "EXPECTEDFAIL", "SKIP"):
            print(f"FAILED: {t.get('name')} ({res}) in {path}")
if skipped:
    print(f"{skipped} test programs skipped")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
