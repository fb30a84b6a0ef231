"""One report document from a command's JSON (DESIGN §5 shapes) — what the HTML, JSON and JUnit files show.

Pure: it reads only the ``to_json()`` documents of ``status``, ``apply`` and ``promote`` (contracts: keys
are added, never renamed), an inventory context (hosts, exemptions, configured crypto) and run metadata,
so internal changes to the operations do not reach the renderers. Keys a command adds later are kept
(``extra`` per pair) and shown, not dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

SCHEMA = "ipsec-remote.report/1"

# Grid states, in legend order. Every cell of the hosts × hosts grid has exactly one.
STATES: dict[str, str] = {
    "verified-require": "verified, Require",
    "verified-request": "verified, Request",
    "failed": "not verified",
    "exempt": "exempt (clear text by design)",
    "not-applicable": "not a pair",
    "not-covered": "pair not in this run",
}
PAIR_STATES = ("verified-require", "verified-request", "failed", "not-covered")  # the states a pair can have
COMMANDS = ("status", "apply", "promote")
_KNOWN_PAIR_KEYS = {"a", "b", "verified", "problems", "inbound_security", "outbound_security", "sa",
                    "main_mode_sa", "quick_mode_sa", "diagnosis"}
# Past this many managed hosts the grid would weigh megabytes; the pair list still names every pair.
MAX_GRID_HOSTS = 200


def inventory_context(inv: Any) -> dict[str, Any]:
    """The inventory facts a report shows, as plain data (``inv`` is a parsed ``Inventory``)."""
    mm = inv.crypto.main_mode
    qm = inv.crypto.quick_mode
    return {
        "hosts": [{"name": h.name, "address": h.address, "groups": list(h.groups)} for h in inv.hosts],
        "exemptions": [{"name": e.name, "address": e.address, "role": e.role} for e in inv.exemptions],
        "controller": inv.controller.address,
        "pairs": [[a, b] for a, b, _ in inv.expanded_pairs()],
        "configured": {
            "auth_method": inv.auth.method,
            "key_module": inv.policy.key_module,
            "policy_store": inv.policy.store,
            "main_mode": [f"{p.encryption}/{p.hash}/{p.key_exchange}" for p in mm.proposals],
            "main_mode_lifetime_min": mm.max_minutes,
            "quick_mode": [f"{p.encapsulation} {p.encryption}/{p.esp_hash}" for p in qm.proposals],
            "pfs_group": qm.pfs_group,
        },
    }


def build(command: str, result: Mapping[str, Any], context: Mapping[str, Any],
          meta: Mapping[str, Any]) -> dict[str, Any]:
    """The report document: metadata, the grid, every pair with its evidence, hosts, and the source JSON."""
    if command not in COMMANDS:
        raise ValueError(f"no report for '{command}'")
    pairs = _promote_pairs(result) if command == "promote" else _checked_pairs(result)
    by_key = {frozenset((p["a"], p["b"])): p for p in pairs}
    for a, b in context.get("pairs") or []:  # inventory pairs this run did not look at
        if frozenset((a, b)) not in by_key:
            entry = _pair(a, b, "not-covered", verified=None, problems=[])
            pairs.append(entry)
            by_key[frozenset((a, b))] = entry
    hosts = [dict(h) for h in context.get("hosts") or []]
    addresses = {h["name"]: h.get("address") for h in hosts}
    for p in pairs:
        p["addresses"] = {p["a"]: addresses.get(p["a"]), p["b"]: addresses.get(p["b"])}
    counts = {state: 0 for state in PAIR_STATES}
    for p in pairs:
        counts[p["state"]] += 1
    return {
        "schema": SCHEMA,
        "meta": {**meta, "command": meta.get("command", command), "ok": bool(result.get("ok", False))},
        "configured": dict(context.get("configured") or {}),
        "states": STATES,
        "counts": counts,
        "grid": _grid(hosts, context, by_key),
        "pairs": pairs,
        "hosts": _hosts(command, result, hosts),
        "source": dict(result),
    }


def _pair(a: str, b: str, state: str, *, verified: bool | None, problems: Sequence[str],
          **evidence: Any) -> dict[str, Any]:
    return {"a": a, "b": b, "state": state, "label": STATES[state], "verified": verified,
            "problems": [str(x) for x in problems], **evidence}


def _checked_pairs(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """status and apply: each pair was proven (or not) in this run."""
    out = []
    for raw in result.get("pairs") or []:
        verified = bool(raw.get("verified"))
        inbound = str(raw.get("inbound_security", "unknown"))
        outbound = str(raw.get("outbound_security", "unknown"))
        state = ("verified-require" if "Require" in (inbound, outbound) else "verified-request") if verified \
            else "failed"
        evidence: dict[str, Any] = {"inbound_security": inbound, "outbound_security": outbound,
                                    "sa": raw.get("sa") or {}}
        for key in ("main_mode_sa", "quick_mode_sa", "diagnosis"):
            if key in raw:
                evidence[key] = raw[key]
        extra = {k: v for k, v in raw.items() if k not in _KNOWN_PAIR_KEYS}
        out.append(_pair(str(raw["a"]), str(raw["b"]), state, verified=verified,
                         problems=raw.get("problems") or [], **evidence, extra=extra))
    return out


def _promote_pairs(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """promote: a pair is at the target once its wave is confirmed; skipped pairs are not verified."""
    target = result.get("target") or {}
    inbound, outbound = str(target.get("inbound", "?")), str(target.get("outbound", "?"))
    reached = "verified-require" if "Require" in (inbound, outbound) else "verified-request"
    out: list[dict[str, Any]] = []
    seen: set[frozenset[str]] = set()
    for wave in result.get("waves") or []:
        proofs = {frozenset((p["a"], p["b"])): p for p in wave.get("proofs") or []}
        for text in wave.get("pairs") or []:
            a, _, b = str(text).partition(":")
            proof = proofs.get(frozenset((a, b)), {})
            confirmed = wave.get("status") == "confirmed"
            verified = bool(proof.get("verified")) and confirmed
            problems = list(proof.get("problems") or [])
            if not confirmed:
                problems += [str(x) for x in wave.get("problems") or []]
            out.append(_pair(a, b, reached if verified else "failed", verified=verified, problems=problems,
                             inbound_security=inbound if verified else "previous",
                             outbound_security=outbound if verified else "previous",
                             wave={"number": wave.get("number"), "name": wave.get("name"),
                                   "status": wave.get("status")}))
            seen.add(frozenset((a, b)))
    for text, why in (result.get("skipped") or {}).items():
        a, _, b = str(text).partition(":")
        if frozenset((a, b)) not in seen:
            out.append(_pair(a, b, "failed", verified=False, problems=[f"skipped: {why}"]))
    return out


def _grid(hosts: list[dict[str, Any]], context: Mapping[str, Any],
          by_key: Mapping[frozenset[str], dict[str, Any]]) -> dict[str, Any]:
    """Rows: managed hosts. Columns: managed hosts, then exemptions and the controller (clear by design)."""
    if len(hosts) > MAX_GRID_HOSTS:
        return {"rows": [], "columns": [], "cells": [], "omitted": f"{len(hosts)} hosts: grid omitted "
                                                                   f"above {MAX_GRID_HOSTS}, see the pair list"}
    columns: list[dict[str, Any]] = [{"name": h["name"], "kind": "host"} for h in hosts]
    columns += [{"name": e["name"], "kind": e.get("role", "other")} for e in context.get("exemptions") or []]
    if context.get("controller"):
        columns.append({"name": "controller", "kind": "controller", "address": str(context["controller"])})
    cells = []
    for row in hosts:
        line: list[dict[str, Any]] = []
        for col in columns:
            if col["kind"] != "host":
                line.append({"state": "exempt", "pair": None})
                continue
            pair = by_key.get(frozenset((row["name"], col["name"])))
            if pair is None or row["name"] == col["name"]:
                line.append({"state": "not-applicable", "pair": None})
            else:
                line.append({"state": pair["state"], "pair": [pair["a"], pair["b"]]})
        cells.append(line)
    return {"rows": [h["name"] for h in hosts], "columns": columns, "cells": cells, "omitted": None}


def _hosts(command: str, result: Mapping[str, Any], hosts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per managed host: what this run knows about it (reachability and drift, changes, failures)."""
    raw = result.get("hosts") or {}
    failed = result.get("failed_hosts") or {}
    out = []
    for h in hosts:
        info = dict(raw.get(h["name"]) or {})
        entry: dict[str, Any] = {"name": h["name"], "address": h.get("address"), "groups": h.get("groups", [])}
        if command == "status":
            entry["reachable"] = info.get("reachable")
            entry["drift"] = info.get("drift") or []
            if info.get("error"):
                entry["error"] = info["error"]
        elif command == "apply":
            entry["changes"] = info.get("changes")
            entry["sent"] = info.get("sent")
        if failed.get(h["name"]):
            entry["error"] = failed[h["name"]]
        entry["extra"] = {k: v for k, v in info.items()
                          if k not in ("reachable", "drift", "error", "changes", "sent", "failed", "address")}
        out.append(entry)
    return out
