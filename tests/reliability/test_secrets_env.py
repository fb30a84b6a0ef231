"""The path without ``--lab``, as against real servers: each host's endpoint, the CA bundle and the
credentials come from the inventory and the environment (IPSEC_REMOTE_USER / IPSEC_REMOTE_PASSWORD), the
hosts being a running lab's. It rolls out, and the environment's password — the one that really logs on —
never appears in stdout, stderr (debug logs, console and JSON formats), the journal and every file beside
it, nor in the messages and tracebacks of the failures a wrong password, a wrong CA and a closed port raise.
"""

from __future__ import annotations

import base64
import json
import socket
import traceback
from typing import Any

import pytest

from ipsec_remote.errors import IpsecRemoteError
from ipsec_remote.lab.winrm.tls import make_lab_ca
from ipsec_remote.model.inventory import load_inventory
from ipsec_remote.remote.connect import targets_for
from ipsec_remote.remote.transport import HostSession

from .helpers import ROOT, Lab, changing_calls, control_inspect, running_lab

MANAGED = ("sql01", "app01")


def real_inventory(lab: Lab, auth: str) -> str:
    """inventory.toml as an admin would write it for these hosts: no lab.json involved."""
    info = lab.lab_file()
    text = (ROOT / "inventory.toml").read_text().replace('auth = "negotiate"', f'auth = "{auth}"')
    text = text.replace('[policy]', f'ca_bundle = {json.dumps(info["ca_bundle"])}\n\n[policy]')
    for name in MANAGED:
        text = text.replace(f'name = "{name}"\n', f'name = "{name}"\nendpoint = "{info["hosts"][name]["endpoint"]}"\n')
    return text


def forms(secret: str, user: str) -> list[bytes]:
    raw = secret.encode()
    return [raw, secret.encode("utf-16-le"), base64.b64encode(raw), base64.b64encode(f"{user}:{secret}".encode())]


COMMANDS: list[tuple[str, ...]] = [
    ("plan", "inventory.toml", "--json"),
    ("doctor", "inventory.toml", "--drill"),
    ("apply", "inventory.toml", "--json"),
    ("status", "inventory.toml"),
    ("promote", "--to", "require", "-i", "inventory.toml", "--json"),
    ("status", "inventory.toml", "--json"),
    ("rollback", "-i", "inventory.toml"),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running_lab(tmp_path_factory.mktemp("envcreds")) as running:
        yield running


def test_without_lab_the_environment_password_logs_on_and_never_shows(lab: Lab) -> None:
    info = lab.lab_file()
    (password,) = {h["password"] for h in info["hosts"].values()}
    user = info["hosts"]["sql01"]["username"]
    (lab.dir / "inventory.toml").write_text(real_inventory(lab, "basic"))
    env = {"IPSEC_REMOTE_USER": user, "IPSEC_REMOTE_PASSWORD": password}
    outputs: dict[str, bytes] = {}
    for i, command in enumerate(COMMANDS):
        fmt = ("console", "json")[i % 2]
        proc = lab.cli("--log-level", "debug", "--log-format", fmt, *command, env_extra=env)
        assert proc.returncode == 0, (command, proc.stdout[-1500:], proc.stderr[-1500:])
        outputs[f"{' '.join(command)}: stdout"] = proc.stdout.encode()
        outputs[f"{' '.join(command)}: stderr"] = proc.stderr.encode()
    # The commands really went to the hosts over this path (not a lab shortcut): calls were made and the
    # journal is the real fleet's, beside the inventory.
    hosts = control_inspect(lab)
    assert all(changing_calls(hosts[n]) for n in MANAGED)
    assert all(hosts[n]["requests_by_auth"].get("basic", 0) > 0 for n in MANAGED), \
        {n: hosts[n]["requests_by_auth"] for n in MANAGED}
    assert (lab.dir / ".ipsec-remote" / "state.db").is_file()
    # A wrong password fails one line per host, without echoing what was tried.
    wrong = lab.cli("--log-level", "debug", "status", "inventory.toml",
                    env_extra={**env, "IPSEC_REMOTE_PASSWORD": password + "-wrong"})
    assert wrong.returncode == 1 and "Traceback" not in wrong.stderr, wrong.stderr
    outputs["wrong password: stdout"] = wrong.stdout.encode()
    outputs["wrong password: stderr"] = wrong.stderr.encode()
    files = [p for p in (lab.dir / ".ipsec-remote").iterdir() if p.is_file() and p.name != "lab.json"]
    assert any(p.name.startswith("state.db") for p in files), files
    for path in files:
        outputs[str(path)] = path.read_bytes()
    secrets = {s: forms(s, user) for s in (password, password + "-wrong")}
    leaks = [(where, s) for where, data in outputs.items() for s, enc in secrets.items() if any(e in data for e in enc)]
    assert not leaks, leaks


def failure_tracebacks(lab: Lab, monkeypatch: pytest.MonkeyPatch, password: str, user: str) -> dict[str, str]:
    """The full traceback (chained causes included) of opening a session with a wrong password, a CA that
    did not sign the endpoint's certificate, and a port nobody listens on."""
    monkeypatch.setenv("IPSEC_REMOTE_USER", user)
    inventory = lab.dir / "inventory.toml"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    other_ca = make_lab_ca(lab.dir / "other-ca").ca_bundle
    cases = {
        "wrong password": (real_inventory(lab, "basic"), password + "-wrong"),
        "wrong CA": (real_inventory(lab, "basic").replace(lab.lab_file()["ca_bundle"], str(other_ca)), password),
        "closed port": (real_inventory(lab, "ntlm").replace(
            lab.lab_file()["hosts"]["sql01"]["endpoint"], f"https://127.0.0.1:{closed}/wsman"), password),
    }
    out: dict[str, str] = {}
    for name, (text, secret) in cases.items():
        inventory.write_text(text)
        monkeypatch.setenv("IPSEC_REMOTE_PASSWORD", secret)
        target = targets_for(load_inventory(inventory), inventory, lab=False)["sql01"]
        with pytest.raises(IpsecRemoteError) as caught:
            HostSession(target).open().close()
        out[name] = "".join(traceback.format_exception(caught.value)) + repr(target)
    return out


def test_failure_tracebacks_carry_no_password(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    info = lab.lab_file()
    (password,) = {h["password"] for h in info["hosts"].values()}
    user = info["hosts"]["sql01"]["username"]
    tracebacks = failure_tracebacks(lab, monkeypatch, password, user)
    assert set(tracebacks) == {"wrong password", "wrong CA", "closed port"}
    for name, text in tracebacks.items():
        assert "Traceback" in text, name
        for secret in (password, password + "-wrong"):
            assert not any(e.decode(errors="replace") in text for e in forms(secret, user)), (name, text)
