"""Fixtures for the host-model tests (helpers live in host_harness.py)."""

from __future__ import annotations

import pytest
from host_harness import Harness, MakeHost, new_lab


@pytest.fixture
def make_lab() -> MakeHost:
    return new_lab


@pytest.fixture
def lab() -> Harness:
    return new_lab()
