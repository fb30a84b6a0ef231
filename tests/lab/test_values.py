"""CaseInsensitiveDict's direct overrides (get, items, values, iteration, copy, from_entries) behave as the
``MutableMapping`` mixins they replace: checked against a minimal mapping that uses the mixins only."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ipsec_remote.lab.values import CaseInsensitiveDict, PSHashtable


class _Reference(MutableMapping[str, Any]):
    """The plain definition: lowered key -> (first spelling, value), everything else from the mixins."""

    def __init__(self) -> None:
        self.data: dict[str, tuple[str, Any]] = {}

    def __getitem__(self, key: str) -> Any:
        return self.data[key.lower()][1]

    def __setitem__(self, key: str, value: Any) -> None:
        old = self.data.get(key.lower())
        self.data[key.lower()] = (key if old is None else old[0], value)

    def __delitem__(self, key: str) -> None:
        del self.data[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self.data.values())

    def __len__(self) -> int:
        return len(self.data)


_KEYS = st.sampled_from(["Name", "name", "NAME", "Group", "group", "Ä", "ä", "x"])
_OPS = st.lists(st.tuples(st.sampled_from(["set", "del", "get"]), _KEYS, st.integers(0, 3)), max_size=30)


@given(_OPS)
def test_behaves_as_the_mixin_definition(ops: list[tuple[str, str, int]]) -> None:
    mine, ref = PSHashtable(), _Reference()
    for op, key, value in ops:
        if op == "set":
            mine[key] = value
            ref[key] = value
        elif op == "del" and key in ref:
            del mine[key]
            del ref[key]
        assert mine.get(key, "missing") == ref.get(key, "missing")
        assert (key in mine) == (key in ref)
    assert list(mine) == list(ref)
    assert list(mine.items()) == list(ref.items())
    assert list(mine.values()) == list(ref.values())
    assert len(mine.items()) == len(ref) and mine.items() == ref.items()
    for item in ref.items():
        assert item in mine.items()
    assert mine == dict(ref.items())
    copied = mine.copy()
    assert type(copied) is PSHashtable and list(copied.items()) == list(mine.items())
    copied["new"] = 1
    assert "new" not in mine  # a copy, not a view
    rebuilt = CaseInsensitiveDict(mine)
    assert list(rebuilt.items()) == list(mine.items())


def test_from_entries_keeps_the_given_spellings_and_later_writes_keep_them() -> None:
    table = CaseInsensitiveDict.from_entries({"instanceid": ("InstanceID", None), "name": ("Name", 1)})
    table["INSTANCEID"] = "x"
    assert list(table.items()) == [("InstanceID", "x"), ("Name", 1)]
    assert table.get("NAME") == 1 and table.get("missing") is None
