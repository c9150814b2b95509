#!/usr/bin/env python3
"""Count test results from meson's testlog.json files.

Each TAP line of a test counts as one check; a test that printed no TAP (or
crashed before its plan) counts by its overall result.  Prints one line per
test program, or group of checks, that was skipped, naming it and the
reason it gave (e.g. "needs root" for an ordinary user); for each test that
failed, its "not ok" lines (or, if it printed none, the end of its output
and of its stderr), so that the tail of a CI log says what broke; then,
last, "N passed, N failed".  Exit 1 if anything failed."""
import json
import os
import re
import sys


def print_why(out, err, rc):
    """The lines that say why a test failed, indented under its FAILED line."""
    bad = re.findall(r"^not ok \d+.*$", out, re.M)
    if bad:
        lines = bad[:10] + ([f"... {len(bad) - 10} more"] if len(bad) > 10 else [])
    else:
        lines = [f"{len(re.findall(r'^ok ', out, re.M))} ok lines, exit status {rc}; the end of its output:"]
        lines += out.splitlines()[-5:] + [f"stderr: {l}" for l in err.splitlines()[-8:]]
    for l in lines:
        print(f"    {l[:300]}")


passed = failed = skipped = 0
skips = {}  # (what, why) -> builds where it was skipped
for path in sys.argv[1:]:
    build = os.path.basename(os.path.dirname(os.path.dirname(path))) or path
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
        name = re.sub(r"^[^:]*:", "", t.get("name") or "?").strip()
        if res == "SKIP":
            skipped += 1
            m = re.search(r"^1\.\.0\s*#\s*SKIP\s*(.*)$", out, re.M)
            why = m.group(1).strip() if m else "no reason given"
            skips.setdefault((name, why), []).append(build)
            continue
        reasons = re.findall(r"^ok \d+.*#\s*SKIP\s*(.*)$", out, re.M)
        if reasons:
            uniq = list(dict.fromkeys(r.strip() or "no reason given" for r in reasons))
            what = f"{len(reasons)} check{'s' if len(reasons) > 1 else ''} of {name}"
            skips.setdefault((what, "; ".join(uniq)), []).append(build)
        if res not in ("OK", "EXPECTEDFAIL") and noks == 0:
            noks = 1  # crashed, timed out, or bad plan: count it
        passed += oks if (oks or noks) else (1 if res == "OK" else 0)
        failed += noks
        if res not in ("OK", "EXPECTEDFAIL", "SKIP"):
            print(f"FAILED: {t.get('name')} ({res}) in {path}")
            print_why(out, t.get("stderr") or "", t.get("returncode"))
for (what, why), builds in skips.items():
    print(f"skipped: {what} ({', '.join(builds)}): {why}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
