"""Playbooks: the rollout as data (phases, verification, promotion waves, failure thresholds)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from ..errors import InputError
from .inventory import load_toml, locate

DEFAULT_PLAYBOOK = "server-to-server.toml"
Phase = Literal["exemptions", "sets", "main_mode_rules", "rules", "verify"]
PHASES: tuple[Phase, ...] = ("exemptions", "sets", "main_mode_rules", "rules", "verify")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # no "60" for 60: TOML has types


class Rollout(_Model):
    # The order is fixed by safety (exemptions before anything that could require authentication);
    # a playbook may stop earlier (e.g. without "verify"), never reorder.
    phases: list[Phase] = list(PHASES)
    forks: Annotated[int, Field(ge=1, le=1000)] = 50

    @model_validator(mode="after")
    def _ordered(self) -> Rollout:
        if list(self.phases) != [p for p in PHASES if p in self.phases]:
            raise ValueError(f"phases must keep the order {', '.join(PHASES)}")
        if "exemptions" not in self.phases:
            raise ValueError("the exemptions phase cannot be skipped")
        return self


class Verify(_Model):
    timeout_s: Annotated[float, Field(gt=0, le=3600)] = 60
    poll_interval_s: Annotated[float, Field(gt=0, le=60)] = 2
    both_directions: bool = True


class Wave(_Model):
    name: str
    pairs: Annotated[int, Field(ge=1)] | None = None  # an absolute count…
    percent: Annotated[int, Field(ge=1, le=100)] | None = None  # …or a share of the eligible pairs

    @model_validator(mode="after")
    def _one_size(self) -> Wave:
        if (self.pairs is None) == (self.percent is None):
            raise ValueError("a wave takes either pairs or percent")
        return self


class Promote(_Model):
    inbound: Literal["Require"] = "Require"
    outbound: Literal["Request", "Require"] = "Request"  # Microsoft's usual target: Require in, Request out
    confirm_timeout_s: Annotated[int, Field(ge=10, le=3600)] = 120
    # After a revert deadline, how long to keep polling a host's task (its last run and result) before
    # judging it; powershell.exe start-up and NetSecurity's first load can take a while on a busy server.
    revert_wait_s: Annotated[float, Field(gt=0, le=3600)] = 120
    # With policy.server_isolation, promote --to require needs each host's latest 'observe' to be at most this
    # old: the isolation rule cuts off every clear-text peer the observation would have named.
    observation_max_age_s: Annotated[int, Field(ge=60, le=30 * 86400)] = 86400
    waves: Annotated[list[Wave], Field(min_length=1)] = [
        Wave(name="canary", pairs=1), Wave(name="quarter", percent=25), Wave(name="rest", percent=100)]


class Failure(_Model):
    max_failed_pairs_per_wave: Annotated[int, Field(ge=0)] = 0
    stop_on_failed_wave: bool = True


class Playbook(_Model):
    description: str = ""
    rollout: Rollout = Rollout()
    verify: Verify = Verify()
    promote: Promote = Promote()
    failure: Failure = Failure()


def load_playbook(path: str | Path | None, inventory: Path | None = None) -> Playbook:
    """The given playbook; else ``playbooks/server-to-server.toml`` beside the inventory; else the defaults
    (which that file spells out — a test keeps the two equal)."""
    if path is None and inventory is not None:
        beside = inventory.resolve().parent / "playbooks" / DEFAULT_PLAYBOOK
        path = beside if beside.is_file() else None
    if path is None:
        return Playbook()
    try:
        return Playbook.model_validate(load_toml(path))
    except PydanticValidationError as exc:
        raise locate(exc, str(path)) from None


__all__ = ["InputError", "Playbook", "load_playbook"]
