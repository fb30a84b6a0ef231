"""SAs that outlive a crypto change, in-process: apply rekeys the stale pairs (at Request at once, at Require
behind the dead-man's switch on drilled hosts only), and ``rekey`` drops only the SAs of the pairs it is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ipsec_remote.journal.deadman import record_drill
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.ops.apply import apply
from ipsec_remote.ops.promote import promote
from ipsec_remote.ops.rekey import rekey

from .harness import FAST_PLAYBOOK, TRIO, InProcessLab, inprocess_lab

AES256, AES128 = 65003, 65001  # CipherAlgorithm codes of an MM SA (wfascim-classes.json, MSFT_NetMainModeSA)
PAIRS = ["app01:sql01", "web01:app01", "web01:sql01"]
# A stale pair is proven until the verify timeout (it may still renegotiate): 1 s instead of 4.
QUICK = FAST_PLAYBOOK.replace("timeout_s = 4", "timeout_s = 1")
ADDRESS = {"sql01": "10.10.1.20", "app01": "10.10.1.30", "web01": "10.10.1.40"}


def _mm_sas(lab: InProcessLab, host: str) -> dict[str, tuple[str, int]]:
    """Per peer address: the MM SA's id and cipher code."""
    return {s["RemoteEndpoint"]: (s["Name"], s["CipherAlgorithm"]) for s in lab.inspect()[host]["main_mode_sas"]}


def _to_aes128(lab: InProcessLab) -> None:
    """The inventory's main-mode proposal changes (the hosts' SAs were negotiated with the old one)."""
    path = lab.dir / "inventory.toml"
    path.write_text(path.read_text().replace('encryption = "AES256", hash = "SHA256", key_exchange',
                                             'encryption = "AES128", hash = "SHA256", key_exchange'))
    lab.inv = load_inventory(path)


def _apply(lab: InProcessLab, said: list[tuple[str, str]]) -> Any:
    return apply(lab.inv, lab.dir / "inventory.toml", lab.playbook(), lab.targets, lab.journal(), 4,
                 progress=lambda h, m: said.append((h, str(m))), checks=False)


def test_apply_rekeys_pairs_whose_sas_use_proposals_the_inventory_no_longer_has(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO, playbook=QUICK) as lab:
        first = lab.apply()
        assert first.ok and first.rekeyed == []
        before = _mm_sas(lab, "sql01")
        assert {c for _, c in before.values()} == {AES256}
        _to_aes128(lab)
        said: list[tuple[str, str]] = []
        report = _apply(lab, said)
        assert report.ok, report.to_json()
        assert report.summary == {"add": 0, "change": 3, "destroy": 0}
        assert report.rekeyed == PAIRS
        assert [(p.a, p.b, p.verified, p.stale) for p in report.pairs] == [
            ("app01", "sql01", True, False), ("web01", "app01", True, False), ("web01", "sql01", True, False)]
        after = _mm_sas(lab, "sql01")
        assert sorted(after) == sorted(before) and {c for _, c in after.values()} == {AES128}
        assert not set(before.values()) & set(after.values())  # new SAs, not the old ones kept
        assert ("fleet", "3 pair(s) negotiated with proposals the inventory no longer has: rekeying") in said
        assert ("fleet", "rekey: SAs of 3 pair(s) at Request dropped on both ends and proven again") in said
        # the renewed SAs' proof reports each pair as it is proven, after the rekey began
        start = said.index(("fleet", "3 pair(s) negotiated with proposals the inventory no longer has: rekeying"))
        assert [m for h, m in said[start:] if m.startswith("pair ")] == [
            "pair app01 <-> sql01 verified", "pair web01 <-> app01 verified", "pair web01 <-> sql01 verified"]
        assert report.to_json()["rekeyed"] == PAIRS


def test_a_stale_pair_at_require_waits_for_a_drill_then_is_rekeyed_behind_the_switch(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO, playbook=QUICK) as lab:
        assert lab.apply().ok
        promoted = promote(lab.inv, lab.playbook(), lab.targets, lab.journal(), "require", [("app01", "sql01")],
                           20, 4, skip_drill=True, checks=False)
        assert promoted.ok
        _to_aes128(lab)
        refused = _apply(lab, [])
        assert not refused.ok
        assert refused.rekeyed == ["web01:app01", "web01:sql01"]  # the pairs at Request, at once
        [held] = [p for p in refused.pairs if (p.a, p.b) == ("app01", "sql01")]
        assert held.stale and not held.verified
        assert [p for p in held.problems if "at Require was not rekeyed" in p] == [
            f"app01:sql01 at Require was not rekeyed: {h}: no dead-man's switch drill yet: run "
            f"'ipsec-remote doctor --drill' (or rekey --skip-drill)" for h in ("app01", "sql01")]
        assert all(not p.problems for p in refused.pairs if (p.a, p.b) != ("app01", "sql01"))
        assert _mm_sas(lab, "sql01")[ADDRESS["app01"]][1] == AES256  # not touched
        assert refused.security[("app01", "sql01")] == ("Require", "Request")

        journal = lab.journal()
        for host in ("app01", "sql01"):
            record_drill(journal, 1, host, True, {})
        said: list[tuple[str, str]] = []
        again = _apply(lab, said)
        assert again.ok, again.to_json()
        assert again.rekeyed == ["app01:sql01"]
        assert _mm_sas(lab, "sql01")[ADDRESS["app01"]][1] == AES128
        assert ("fleet", "rekey: 1 pair(s) at Require: behind the dead-man's switch (20 s)") in said
        assert ("fleet", "rekey: confirmed") in said
        assert [r[0] for r in lab.journal()._query("SELECT status FROM waves ORDER BY id")] == ["confirmed",
                                                                                               "confirmed"]
        assert not [t for h in lab.inspect().values() for t in h["scheduled_tasks"]]
        assert lab.journal().pair_security()[("app01", "sql01")] == ("Require", "Request")


def test_rekey_drops_only_the_sas_of_the_pairs_it_is_given(tmp_path: Path) -> None:
    with inprocess_lab(tmp_path, TRIO, playbook=QUICK) as lab:
        assert lab.apply().ok
        before = {h: _mm_sas(lab, h) for h in ADDRESS}
        report = rekey(lab.inv, lab.playbook(), lab.targets, lab.journal(), [("sql01", "app01")], 4)
        assert report.ok, report.to_json()
        assert [(p.a, p.b, p.verified) for p in report.pairs] == [("app01", "sql01", True)]
        after = {h: _mm_sas(lab, h) for h in ADDRESS}
        assert after["sql01"][ADDRESS["app01"]] != before["sql01"][ADDRESS["app01"]]  # renegotiated
        assert after["app01"][ADDRESS["sql01"]] != before["app01"][ADDRESS["sql01"]]
        # web01's SAs with both, and their ends on sql01 and app01, are the ones negotiated before
        assert after["web01"] == before["web01"]
        assert after["sql01"][ADDRESS["web01"]] == before["sql01"][ADDRESS["web01"]]
        assert after["app01"][ADDRESS["web01"]] == before["app01"][ADDRESS["web01"]]
