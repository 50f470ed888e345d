#!/usr/bin/env python3
"""Prints every failed test in the given .trx files: its name, message, the top of its stack and the end of
its output.

test.sh runs this last because CI keeps only the end of a run's output: without a recap there, a failure
printed minutes earlier, between hundreds of passing lines, is out of sight.
"""
import sys
import xml.etree.ElementTree as ElementTree

TRX = "{http://microsoft.com/schemas/VisualStudio/TeamTest/2010}"
STACK_LINES = 12
OUTPUT_LINES = 30


def text_of(result, path):
    element = result.find(path)
    return (element.text or "").strip() if element is not None else ""


def last_lines(text, count):
    lines = text.splitlines()
    return lines[-count:]


def main(paths):
    failures = 0
    for path in paths:
        try:
            root = ElementTree.parse(path).getroot()
        except (OSError, ElementTree.ParseError) as error:
            print(f"cannot read {path}: {error}")
            continue
        for result in root.iter(f"{TRX}UnitTestResult"):
            if result.get("outcome") != "Failed":
                continue
            failures += 1
            print(f"FAILED {result.get('testName')} ({result.get('duration')})")
            message = text_of(result, f"{TRX}Output/{TRX}ErrorInfo/{TRX}Message")
            for line in message.splitlines():
                print(f"  {line}")
            stack = text_of(result, f"{TRX}Output/{TRX}ErrorInfo/{TRX}StackTrace")
            for line in stack.splitlines()[:STACK_LINES]:
                print(f"  {line}")
            output = text_of(result, f"{TRX}Output/{TRX}StdOut")
            if output:
                print(f"  --- last {OUTPUT_LINES} lines of the test's output ---")
                for line in last_lines(output, OUTPUT_LINES):
                    print(f"  {line}")
            print()
    print(f"{failures} failed test(s) in {len(paths)} result file(s)")


if __name__ == "__main__":
    main(sys.argv[1:])
