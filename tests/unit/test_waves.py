"""Promotion waves by pairs and by hosts (plan/waves.py, pure): tables of cases."""

from __future__ import annotations

from typing import Any

import pytest

from ipsec_remote.errors import InputError
from ipsec_remote.model.playbook import Playbook, load_playbook
from ipsec_remote.plan.waves import plan_waves

# One app server talking to four SQL servers, then pairs among the SQL servers.
STAR = [("app1", "sql1"), ("app1", "sql2"), ("app1", "sql3"), ("app1", "sql4"), ("sql1", "sql2"), ("sql3", "sql4")]


def book(waves: list[dict[str, Any]], max_hosts: int | None = None) -> Playbook:
    promote: dict[str, Any] = {"waves": waves}
    if max_hosts is not None:
        promote["max_hosts"] = max_hosts
    return Playbook.model_validate({"promote": promote})


CASES = [
    ("pairs only (as before)", [{"name": "canary", "pairs": 1}, {"name": "rest", "percent": 100}], None,
     [("canary", STAR[:1]), ("rest", STAR[1:])]),
    ("percent then rest", [{"name": "half", "percent": 50}, {"name": "rest", "percent": 100}], None,
     [("half", STAR[:3]), ("rest", STAR[3:])]),
    ("the last wave bounded by hosts repeats", [{"name": "canary", "pairs": 1},
                                                {"name": "rest", "percent": 100, "max_hosts": 3}], None,
     [("canary", [("app1", "sql1")]), ("rest", [("app1", "sql2"), ("app1", "sql3")]),
      ("rest-2", [("app1", "sql4"), ("sql3", "sql4")]), ("rest-3", [("sql1", "sql2")])]),
    ("a pair that does not fit waits, later ones that fit go", [{"name": "w", "pairs": 3, "max_hosts": 2},
                                                                 {"name": "rest", "percent": 100}], None,
     [("w", [("app1", "sql1")]), ("rest", STAR[1:])]),
    ("[promote] max_hosts for waves without their own", [{"name": "a", "percent": 100}], 2,
     [("a", [p]) for p in STAR[:1]] + [(f"a-{i}", [p]) for i, p in enumerate(STAR[1:], start=2)]),
    ("a wave's own bound wins over the default", [{"name": "a", "pairs": 2, "max_hosts": 4},
                                                  {"name": "b", "percent": 100}], 3,
     [("a", STAR[:2]), ("b", [("app1", "sql3"), ("app1", "sql4"), ("sql3", "sql4")]),
      ("b-2", [("sql1", "sql2")])]),
    ("no pairs, no waves", [{"name": "a", "percent": 100}], 2, []),
]


@pytest.mark.parametrize(("case", "waves", "max_hosts", "expected"), CASES, ids=[c[0] for c in CASES])
def test_plan_waves(case: str, waves: list[dict[str, Any]], max_hosts: int | None,
                    expected: list[tuple[str, list[tuple[str, str]]]]) -> None:
    pairs = [] if case == "no pairs, no waves" else STAR
    planned = plan_waves(pairs, book(waves, max_hosts))
    assert planned == expected
    assert sorted(p for _, ps in planned for p in ps) == sorted(pairs)  # every pair exactly once
    cap = {w["name"]: w.get("max_hosts", max_hosts) for w in waves}
    for name, ps in planned:
        limit = cap[name.split("-")[0]]
        assert limit is None or len({h for p in ps for h in p}) <= limit


@pytest.mark.parametrize(("text", "where"), [
    ("[promote]\nmax_hosts = 1\n", "promote.max_hosts"),
    ('[promote]\nwaves = [{ name = "a", percent = 100, max_hosts = "3" }]\n', "promote.waves[0].max_hosts"),
])
def test_max_hosts_is_validated(tmp_path: Any, text: str, where: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_playbook(path)
    assert f"{path}: {where}:" in str(err.value), str(err.value)
