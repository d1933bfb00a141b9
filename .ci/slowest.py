#!/usr/bin/env python3
"""Print the ten slowest tests from a nextest JUnit report.

Usage: slowest.py [JUNIT_XML]   (default: target/nextest/ci/junit.xml)

Prints "Ten slowest tests:" followed by lines like "  12.34s  binary::test_name",
then a one-line count of passed/failed/skipped tests. A missing or unreadable
report is reported and tolerated (exit status 0): this script only informs.
"""

import sys
import xml.etree.ElementTree as ET

DEFAULT_PATH = "target/nextest/ci/junit.xml"


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PATH
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        print(f"Ten slowest tests: no JUnit report at {path}")
        return 0
    except (OSError, ET.ParseError) as err:
        print(f"Ten slowest tests: cannot read {path}: {err}")
        return 0

    timings = []
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        binary = case.get("classname", "")
        full = f"{binary}::{name}" if binary else name
        try:
            secs = float(case.get("time", "0") or 0)
        except ValueError:
            secs = 0.0
        timings.append((secs, full))
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1

    print("Ten slowest tests:")
    if not timings:
        print("  (no test cases in the report)")
    for secs, full in sorted(timings, key=lambda t: (-t[0], t[1]))[:10]:
        print(f"  {secs:5.2f}s  {full}")
    print(f"junit: {passed} passed, {failed} failed, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
