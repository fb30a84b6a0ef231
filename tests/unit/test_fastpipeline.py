"""The pipeline message written as text is byte for byte the one pypsrp's PowerShell.begin_invoke sends."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pypsrp import messages as M
from pypsrp.complex_objects import ApartmentState
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.serializer import Serializer
from pypsrp.wsman import WSMan
from test_fastclixml import texts, values

from ipsec_remote.remote.fastclixml import FastSerializer, speed_up
from ipsec_remote.remote.fastpipeline import create_pipeline
from ipsec_remote.remote.transport import script_text

Step = tuple[str, dict[str, Any]]


def pool_at(version: str | None, fast: bool = True) -> RunspacePool:
    """An unopened pool as an opened one looks to a pipeline (no connection is made)."""
    pool = RunspacePool(WSMan("host.invalid", ssl=True, auth="basic", username="u", password="p"))
    pool.protocol_version = version
    if fast:
        speed_up(pool)
    return pool


def pypsrps(version: str, steps: list[Step]) -> bytes:
    """The message pypsrp's begin_invoke builds for ``steps``, packed by pypsrp's own serializer."""
    pool = pool_at(version, fast=False)
    ps = PowerShell(pool)
    for i, (script, params) in enumerate(steps):
        if i:
            ps.add_statement()
        ps.add_script(script)
        if params:
            ps.add_parameters(copy.deepcopy(params))
    sent: list[Any] = []
    ps._invoke = sent.append  # type: ignore[method-assign]  # catch the message instead of sending it
    ps.begin_invoke()
    return packed(pool, sent[0], Serializer())


def packed(pool: RunspacePool, message: Any, serializer: Serializer) -> bytes:
    data: bytes = M.Message(M.Destination.SERVER, pool.id, "00000000-0000-0000-0000-000000000002", message,
                            serializer).pack()
    return data


def ours(version: str, steps: list[Step]) -> bytes | None:
    pool = pool_at(version)
    message = create_pipeline(pool, steps)
    return None if message is None else packed(pool, message, pool._serializer)


scripts = st.one_of(st.sampled_from(["invoke_batch", "verify", "read_state", "read_events"]).map(script_text), texts)
steps = st.lists(st.tuples(scripts, st.dictionaries(st.sampled_from(["Calls", "Guard", "Probes", "SinceSeconds", ""]),
                                                    values, max_size=3)), min_size=1, max_size=3)


@settings(max_examples=300, deadline=None)
@given(steps=steps, version=st.sampled_from(["2.2", "2.3", "2.3.1", "3.0"]))
def test_the_written_pipeline_is_byte_for_byte_pypsrps(steps: list[Step], version: str) -> None:
    expected = pypsrps(version, steps)
    # pool ids differ: compare past the message header (destination, type, RPID, PID)
    mine = ours(version, steps)
    assert mine is not None
    assert mine[:8] == expected[:8] and mine[40:] == expected[40:]


def test_the_serializer_starts_afresh_for_each_message() -> None:
    pool = pool_at("2.3")
    step: Step = ("verify", {"Probes": [{"Target": "10.0.0.1", "Port": 443}]})
    first = create_pipeline(pool, [step])
    second = create_pipeline(pool, [step])
    assert first is not None and second is not None and first.xml == second.xml


@pytest.mark.parametrize("version, steps", [
    ("2.3", [("s", {"Timeout": 1.5})]),  # a float: pypsrp writes it (as a Double), the text writer does not
    ("2.3", [("s", {"X": [object()]})]),
    ("2.3", []),
    ("2.1", [("s", {"X": 1})]),  # PowerShell 2.0's protocol: no merge options past MergePreviousResults
    (None, [("s", {"X": 1})]),
])
def test_what_the_text_writer_does_not_take_on_goes_to_pypsrp(version: str | None, steps: list[Step]) -> None:
    assert create_pipeline(pool_at(version), steps) is None


def test_a_pool_with_other_settings_goes_to_pypsrp() -> None:
    pool = pool_at("2.3")
    pool.apartment_state = ApartmentState.MTA
    assert create_pipeline(pool, [("s", {})]) is None
    assert create_pipeline(pool_at("2.3", fast=False), [("s", {})]) is None
    assert isinstance(pool_at("2.3")._serializer, FastSerializer)
