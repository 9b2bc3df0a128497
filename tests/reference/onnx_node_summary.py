#!/usr/bin/env python3
"""Summarises ONNX's node test cases per op for docs/onnx.md, from the report
tests/onnx_node_test.cc writes:

  HEED_ONNX_NODE_REPORT=/tmp/node_report.txt build/tests/heed_tests --gtest_filter='OnnxNodeTests*'
  python3 tests/reference/onnx_node_summary.py /tmp/node_report.txt OPS...

Prints a Markdown table: for each op (the op_type of each case's nodes), the
cases that pass, and why the others are left out (heed's own error, shortened).
Needs the onnx package (PyPI) to read the op types.
"""
import collections
import os
import re
import sys

import onnx

NODE = "/usr/share/libonnx-testdata/data/node"


def reason(why):
    missing = re.search(r"\((\w+), opset \d+\): heed does not import this op", why)
    if missing:
        return f"needs {missing.group(1)}, which heed does not import"
    why = re.sub(r"^\S+: ", "", why)  # the file
    why = re.sub(r"^node '[^']*' \(\w+, opset \d+\): ", "", why)
    why = re.sub(r"^node '[^']*' \(\w+\): ", "", why)
    why = re.sub(r"'[^']*'", "'…'", why)
    why = re.sub(r"\d+ of \d+ elements differ.*", "values differ", why)
    why = re.sub(r"\[[^\]]*\]", "[…]", why)
    return why[:90]


def main():
    report, ops = sys.argv[1], set(sys.argv[2:])
    per_op = collections.defaultdict(lambda: [0, 0, collections.Counter()])
    for line in open(report):
        name, why = line.rstrip("\n").split("\t", 1)
        model = onnx.load(os.path.join(NODE, name, "model.onnx"), load_external_data=False)
        types = {n.op_type for n in model.graph.node}
        for op in types & ops if ops else types:
            row = per_op[op]
            row[1] += 1
            if why == "passed":
                row[0] += 1
            else:
                row[2][reason(why)] += 1
    print("| op | cases passed | left out, and why |")
    print("|---|---|---|")
    for op in sorted(per_op):
        passed, total, whys = per_op[op]
        left = "; ".join(f"{n} × {w}" for w, n in whys.most_common())
        print(f"| {op} | {passed} of {total} | {left} |")


if __name__ == "__main__":
    main()
