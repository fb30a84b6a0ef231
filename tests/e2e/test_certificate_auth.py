"""Client-certificate authentication to WinRM over HTTPS (``lab up --auth certificate``): the lab issues a
certificate with the mapped UPN from its CA; an unmapped one is refused in one line and nothing changes."""

from __future__ import annotations

import json
from pathlib import Path

from ipsec_remote.lab.winrm.clientcert import make_client_certificate
from ipsec_remote.lab.winrm.tls import TlsMaterial

from .conftest import changing_calls, running_lab

MANAGED = ("sql01", "app01")


def test_certificate_rollout_and_unmapped_certificate(tmp_path: Path) -> None:
    with running_lab(tmp_path, up_args=("--auth", "certificate")) as lab:
        data = lab.lab_file()
        assert Path(data["client_cert"]).is_file()
        # An unmapped certificate (another UPN, same trusted CA) first: refused, nothing runs.
        state = tmp_path / ".ipsec-remote"
        tls = TlsMaterial(state, state / "lab-ca.pem", state / "lab-ca.key", state / "lab-server.pem",
                          state / "lab-server.key")
        other = tmp_path / "other"
        other.mkdir()
        cert, key = make_client_certificate(tls, "someone@lab.local", other)
        path = state / "lab.json"
        path.write_text(json.dumps({**data, "client_cert": str(cert), "client_key": str(key)}))
        proc = lab.cli("apply", "inventory.toml", "--lab", "--json")
        assert proc.returncode == 1, proc.stderr
        failed = json.loads(proc.stdout)["failed_hosts"]
        assert sorted(failed) == sorted(MANAGED)
        assert all("refused the client certificate" in r and "\n" not in r for r in failed.values()), failed
        hosts = lab.inspect()
        assert all(changing_calls(hosts[n]) == [] and hosts[n]["requests"]["total"] == 0 for n in MANAGED)

        path.write_text(json.dumps(data))
        assert lab.cli("apply", "inventory.toml", "--lab").returncode == 0
        hosts = lab.inspect()
        for name in MANAGED:
            by_auth = hosts[name]["requests_by_auth"]
            assert by_auth["certificate"] > 0 and by_auth["certificate"] == hosts[name]["requests"]["total"]


def test_certificate_from_an_untrusted_ca_is_refused_in_one_line(tmp_path: Path) -> None:
    from ipsec_remote.lab.winrm.tls import make_lab_ca

    with running_lab(tmp_path, up_args=("--auth", "certificate")) as lab:
        data = lab.lab_file()
        foreign = make_lab_ca(tmp_path / "foreign-ca")
        cert, key = make_client_certificate(foreign, "admin@lab.local", tmp_path / "foreign-ca")
        (tmp_path / ".ipsec-remote" / "lab.json").write_text(
            json.dumps({**data, "client_cert": str(cert), "client_key": str(key)}))
        proc = lab.cli("apply", "inventory.toml", "--lab", "--json")
        assert proc.returncode == 1, proc.stderr
        failed = json.loads(proc.stdout)["failed_hosts"]
        assert sorted(failed) == sorted(MANAGED)
        assert all("refused the client certificate" in r and "\n" not in r for r in failed.values()), failed
        hosts = lab.inspect()
        assert all(hosts[n]["requests"]["total"] == 0 for n in MANAGED)
