"""Command JSON documents in the DESIGN §5 shapes, and an inventory context, for the report tests."""

from __future__ import annotations

from typing import Any

CONTEXT: dict[str, Any] = {
    "hosts": [{"name": "sql01", "address": "10.10.1.20", "groups": ["sql"]},
              {"name": "app01", "address": "10.10.1.30", "groups": ["app"]},
              {"name": "app02", "address": "10.10.1.31", "groups": ["app"]},
              {"name": "web01", "address": "10.10.1.40", "groups": ["web"]}],
    "exemptions": [{"name": "dc01", "address": "10.10.1.5", "role": "domain_controller"}],
    "controller": "10.10.1.100",
    "pairs": [["app01", "sql01"], ["app02", "sql01"], ["web01", "app01"], ["web01", "app02"]],
    "configured": {"auth_method": "kerberos", "key_module": "IKEv1", "policy_store": "PersistentStore",
                   "main_mode": ["AES256/SHA256/DH19"], "main_mode_lifetime_min": 480,
                   "quick_mode": ["ESP AES256/SHA256"], "pfs_group": "None"},
}
SA = {"mm": {"cipher": "AES256", "hash": "SHA256", "group": "DH19", "auth_method": "Kerberos"},
      "qm": {"cipher": "AES256", "integrity": "SHA256"}}
HOSTILE = "web01: <script>alert(1)</script> & \x07bell \"quoted\""

STATUS: dict[str, Any] = {
    "pairs": [
        {"a": "app01", "b": "sql01", "verified": True, "main_mode_sa": True, "quick_mode_sa": True,
         "inbound_security": "Require", "outbound_security": "Request", "sa": SA, "problems": [],
         "rekeyed_at": "2026-01-02T03:04:05+00:00"},
        {"a": "app02", "b": "sql01", "verified": True, "main_mode_sa": True, "quick_mode_sa": True,
         "inbound_security": "Request", "outbound_security": "Request", "sa": SA, "problems": []},
        {"a": "web01", "b": "app01", "verified": False, "main_mode_sa": False, "quick_mode_sa": False,
         "inbound_security": "Request", "outbound_security": "Request", "sa": {"mm": None, "qm": None},
         "problems": [HOSTILE, "web01: no main-mode SA with app01"]},
    ],
    "hosts": {"sql01": {"reachable": True, "drift": []}, "app01": {"reachable": True, "drift": []},
              "app02": {"reachable": True, "drift": ["rule x: changed InboundSecurity"]},
              "web01": {"reachable": False, "drift": [], "error": "cannot connect"}},
    "ok": False,
}
PROMOTE: dict[str, Any] = {
    "target": {"inbound": "Require", "outbound": "Request"},
    "skipped": {"web01:app01": "not verified by apply yet"},
    "waves": [
        {"number": 1, "name": "canary", "pairs": ["app01:sql01"], "isolation_hosts": [], "status": "confirmed",
         "problems": [], "proofs": [{"a": "app01", "b": "sql01", "verified": True, "problems": []}]},
        {"number": 2, "name": "rest", "pairs": ["app02:sql01"], "isolation_hosts": [], "status": "reverted",
         "problems": ["app02: no new WinRM session through the new policy"],
         "proofs": [{"a": "app02", "b": "sql01", "verified": False, "problems": ["app02: no quick-mode SA"]}]},
    ],
    "failed_hosts": {},
    "ok": False,
}
META: dict[str, Any] = {"command_line": "ipsec-remote status --lab --report r.html", "inventory": "inventory.toml",
                        "lab": True, "generated_at": "2026-01-02T03:04:05+00:00", "user": "alice",
                        "controller_host": "admin-ws", "version": "0.1.0", "run_id": None, "exit_code": 1}
