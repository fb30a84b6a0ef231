"""The JUnit XML rules CI servers read, after Jenkins' junit-4.xsd (the de-facto schema: GitLab, GitHub
test reporters and Azure Pipelines accept what it accepts). ``violations`` lists what breaks them."""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

ATTRS = {  # element -> (required, optional)
    "testsuites": (set(), {"name", "time", "tests", "failures", "disabled", "errors", "skipped"}),
    "testsuite": ({"name", "tests"}, {"failures", "errors", "time", "disabled", "skipped", "timestamp",
                                      "hostname", "id", "package"}),
    "properties": (set(), set()),
    "property": ({"name", "value"}, set()),
    "testcase": ({"name"}, {"assertions", "time", "classname", "status"}),
    "failure": (set(), {"message", "type"}),
    "error": (set(), {"message", "type"}),
    "skipped": (set(), {"message"}),
    "system-out": (set(), set()),
    "system-err": (set(), set()),
}
CHILDREN = {
    "testsuites": ["testsuite"],
    "testsuite": ["properties", "testcase", "system-out", "system-err"],  # in this order
    "properties": ["property"],
    "testcase": ["skipped", "error", "failure", "system-out", "system-err"],
}
INTEGER = {"tests", "failures", "errors", "skipped", "disabled"}
DECIMAL = re.compile(r"^\d+(\.\d+)?$")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")  # xs:dateTime without a zone, as junit-4.xsd


def violations(text: str) -> list[str]:
    root = ET.fromstring(text.encode("utf-8"))
    out: list[str] = []
    if root.tag != "testsuites":
        out.append(f"root is <{root.tag}>, not <testsuites>")
    _check(root, out)
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for suite in root.iter("testsuite"):
        cases = suite.findall("testcase")
        counted = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        for key, n in counted.items():
            totals[key] += n
            if key in suite.attrib and int(suite.attrib[key]) != n:
                out.append(f"testsuite {key}={suite.attrib[key]} but {n} found")
    for key, n in totals.items():
        if root.tag == "testsuites" and key in root.attrib and int(root.attrib[key]) != n:
            out.append(f"testsuites {key}={root.attrib[key]} but {n} found")
    return out


def _check(node: ET.Element, out: list[str]) -> None:
    if node.tag not in ATTRS:
        out.append(f"unknown element <{node.tag}>")
        return
    required, optional = ATTRS[node.tag]
    for name in required - set(node.attrib):
        out.append(f"<{node.tag}> lacks {name}")
    for name, value in node.attrib.items():
        if name not in required | optional:
            out.append(f"<{node.tag}> has unknown attribute {name}")
        elif name in INTEGER and not value.isdigit():
            out.append(f"<{node.tag}> {name}={value!r} is not an integer")
        elif name == "time" and not DECIMAL.match(value):
            out.append(f"<{node.tag}> time={value!r} is not a decimal")
        elif name == "timestamp" and not TIMESTAMP.match(value):
            out.append(f"<{node.tag}> timestamp={value!r} is not a zone-less xs:dateTime")
    allowed = CHILDREN.get(node.tag, [])
    order = [allowed.index(c.tag) if c.tag in allowed else -1 for c in node]
    for child, rank in zip(node, order, strict=True):
        if rank < 0:
            out.append(f"<{child.tag}> is not allowed in <{node.tag}>")
    if node.tag == "testsuite" and order != sorted(order):
        out.append("testsuite children out of order (properties, testcase*, system-out, system-err)")
    if node.tag == "testsuite" and sum(1 for c in node if c.tag == "properties") > 1:
        out.append("testsuite has more than one <properties>")
    for child in node:
        _check(child, out)
