"""Derive the project's cmdlet reference (src/ipsec_remote/data/netsecurity.json) from the shared one.

Usage: python tools/derive_reference.py ../shared/reference/netsecurity.json

Keeps the machine-checkable facts (cmdlets, parameter names, types, enum values, arrays, flags, aliases,
mandatory flags per parameter set, positions, output properties with numeric codes, default set names,
services, events) and each cmdlet's source page; drops prose. Re-run when the shared reference changes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

KEEP_PARAM = ("type", "array", "values", "mandatory", "mandatory_in_sets", "parameter_sets", "aliases",
              "position", "flags", "default", "pipeline")


def derive(shared: dict[str, Any]) -> dict[str, Any]:
    cmdlets: dict[str, Any] = {}
    for name, entry in sorted(shared["cmdlets"].items()):
        params = {}
        for pname, p in sorted(entry["parameters"].items()):
            kept = {k: p[k] for k in KEEP_PARAM if k in p and p[k] not in (None, [], False)}
            kept.setdefault("type", p["type"])
            kept["array"] = bool(p.get("array"))
            if p.get("default_unverified") or (isinstance(p.get("notes"), list)
                                              and any("UNVERIFIED" in n for n in p["notes"])):
                kept["unverified"] = True
            params[pname] = kept
        out: dict[str, Any] = {
            "source": entry["source"],
            "parameter_sets": [s["name"] for s in entry.get("parameter_sets", [])],
            "default_parameter_set": next((s["name"] for s in entry.get("parameter_sets", []) if s.get("default")),
                                          None),
            "parameters": params,
        }
        if entry.get("not_parameters"):
            out["not_parameters"] = entry["not_parameters"]
        props = entry.get("output_properties")
        if isinstance(props, dict):  # kept as documented: shapes differ between CIM class pages
            out["output_properties"] = {k: v for k, v in props.items() if k != "display_layer"}
        cmdlets[name] = out
    return {
        "derived_from": "shared/reference/netsecurity.json (" + shared["meta"]["what"][:80] + "...)",
        "version_check": shared["meta"]["version_check"],
        "cmdlets": cmdlets,
        "default_set_names": shared["default_set_names"],
        "services": shared["services"],
        "events": shared["events"],
        "exemptions": shared["exemptions"],
        "unverified": shared["unverified"],
    }


def main() -> None:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/netsecurity.json")
    dest = Path(__file__).resolve().parent.parent / "src" / "ipsec_remote" / "data" / "netsecurity.json"
    data = derive(json.loads(src.read_text()))
    dest.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {dest} ({dest.stat().st_size} bytes, {len(data['cmdlets'])} cmdlets)")


if __name__ == "__main__":
    main()
