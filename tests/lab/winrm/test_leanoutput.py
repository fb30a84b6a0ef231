"""Pipeline output written straight to CLIXML is byte for byte what psrpcore writes for to_ps(value)."""

from __future__ import annotations

import datetime
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psrpcore.types import PipelineState, PSInvocationState
from psrpcore.types import serialize as ps_serialize

from ipsec_remote.lab.values import CaseInsensitiveDict, PSHashtable, PSObject, UInt8, UInt16, UInt32, UInt64
from ipsec_remote.lab.winrm.convert import to_ps
from ipsec_remote.lab.winrm.leanoutput import Unsupported, clixml, pipeline_state

alphabet = st.sampled_from(list("abcXx_ <>&\"'\n\r\t\x00\x1f\x7f\x85é€\U0001F600"))
texts = st.text(alphabet=alphabet, max_size=10)
unsigned = st.sampled_from([UInt8, UInt16, UInt32, UInt64]).flatmap(
    lambda kind: st.integers(0, 255).map(kind))
scalars = st.one_of(texts, st.booleans(), st.integers(-2**40, 2**40), st.none(), unsigned)


def objects(inner: Any) -> Any:
    props = st.dictionaries(texts, inner, max_size=4).map(CaseInsensitiveDict)
    names = st.lists(st.sampled_from(["System.Management.Automation.PSCustomObject", "System.Object",
                                      "Microsoft.Management.Infrastructure.CimInstance#root/x/MSFT_A", "A<b>"]),
                     max_size=3)
    return st.builds(PSObject, properties=props, type_names=names, adapted=st.booleans(),
                     to_string=st.none() | texts)


values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(texts, inner, max_size=3).map(PSHashtable), objects(inner)), max_leaves=25)


def psrpcore_bytes(value: Any) -> bytes:
    data: bytes = ElementTree.tostring(ps_serialize(to_ps(value), None), encoding="utf-8")
    return data


@settings(max_examples=500, deadline=None)
@given(value=values)
def test_output_is_psrpcores(value: Any) -> None:
    assert clixml(value) == psrpcore_bytes(value)


@pytest.mark.parametrize("value", [1.5, datetime.datetime(2026, 1, 1), b"x", [1, 2.5]])
def test_other_values_are_left_to_psrpcore(value: Any) -> None:
    with pytest.raises(Unsupported):
        clixml(value)


@pytest.mark.parametrize("state", list(PSInvocationState))
def test_pipeline_state_message_is_psrpcores(state: PSInvocationState) -> None:
    expected = ElementTree.tostring(ps_serialize(PipelineState(PipelineState=int(state)), None), encoding="utf-8")
    assert pipeline_state(state) == expected
