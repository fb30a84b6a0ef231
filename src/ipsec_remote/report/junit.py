"""The report document as JUnit XML for CI: one testcase per pair, a failure per unverified pair.

The shape is the one CI servers read (Jenkins' junit.xsd, which GitLab, GitHub actions and Azure
Pipelines follow): ``testsuites`` > ``testsuite`` (name, tests, failures, errors, skipped, timestamp) >
``testcase`` (classname, name, time) with ``failure``/``skipped`` children. Pairs this run did not look at
(a promote that left them alone) are ``skipped`` rather than passed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree as ET

# XML 1.0 forbids most control characters even escaped; problem texts come from hosts.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(value: Any) -> str:
    return _NOT_XML.sub("?", "" if value is None else str(value))


def render_junit(doc: Mapping[str, Any]) -> str:
    meta = doc.get("meta") or {}
    command = str(meta.get("command", "report"))
    pairs = list(doc.get("pairs") or [])
    failures = sum(1 for p in pairs if p["state"] == "failed")
    skipped = sum(1 for p in pairs if p["state"] == "not-covered")
    root = ET.Element("testsuites", {"name": "ipsec-remote", "tests": str(len(pairs)), "failures": str(failures),
                                     "errors": "0", "skipped": str(skipped), "time": "0"})
    suite = ET.SubElement(root, "testsuite", {
        "name": f"ipsec-remote {command}", "tests": str(len(pairs)), "failures": str(failures), "errors": "0",
        "skipped": str(skipped), "time": "0", "timestamp": _clean(_timestamp(meta.get("generated_at"))),
        "hostname": _clean(meta.get("controller_host") or "localhost")})
    props = ET.SubElement(suite, "properties")
    for key in ("command_line", "inventory", "lab", "user", "run_id", "version", "exit_code"):
        if meta.get(key) is not None:
            ET.SubElement(props, "property", {"name": key, "value": _clean(meta[key])})
    for p in pairs:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"ipsec-remote.{command}.pairs", "name": _clean(f"{p['a']} <-> {p['b']}"), "time": "0"})
        if p["state"] == "failed":
            problems = [str(x) for x in p.get("problems") or []] or ["not verified"]
            failure = ET.SubElement(case, "failure", {"message": _clean(problems[0]), "type": "NotVerified"})
            failure.text = _clean("\n".join(problems))
        elif p["state"] == "not-covered":
            ET.SubElement(case, "skipped", {"message": "pair not in this run"})
        out = {k: p[k] for k in ("state", "inbound_security", "outbound_security", "sa", "wave") if k in p}
        ET.SubElement(case, "system-out").text = _clean(json.dumps(out, sort_keys=True))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _timestamp(value: Any) -> str:
    """JUnit's timestamp is an ISO 8601 date-time without a zone designator."""
    text = str(value or "1970-01-01T00:00:00")
    return re.sub(r"(Z|[+-]\d\d:\d\d)$", "", text)
