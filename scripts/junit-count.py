#!/usr/bin/env python3
"""Count the results in JUnit XML files (ctest --output-junit, node --test
--test-reporter=junit, pytest --junitxml): prints "PASSED FAILED".

A testcase failed when it has a <failure> or <error>; skipped ones (a
<skipped> child, or ctest's status notrun/disabled) count as neither.
Exits 1 when a file is missing or not JUnit XML (the suite did not run)."""
import sys
import xml.etree.ElementTree as ET


def count(path):
    passed = failed = 0
    root = ET.parse(path).getroot()
    if root.tag not in ("testsuites", "testsuite"):
        raise ValueError(f"{path}: not JUnit XML")
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("status") in ("notrun", "disabled"):
            pass
        else:
            passed += 1
    return passed, failed


def main(paths):
    passed = failed = 0
    for path in paths:
        try:
            p, f = count(path)
        except (OSError, ET.ParseError, ValueError) as e:
            print(f"junit-count: {e}", file=sys.stderr)
            return 1
        passed += p
        failed += f
    print(passed, failed)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
