"""TLS: a lab endpoint whose certificate comes from another CA is refused — with the controller pointed at
another CA's bundle, and by default (no bundle: the system store) — with a one-line reason naming the
certificate, and no WSMan request ever reaches a host. Nothing in the code or the tests turns validation off.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ipsec_remote.lab.fleet.labfile import write_lab_file
from ipsec_remote.lab.winrm.tls import make_lab_ca

from .helpers import MANAGED, ROOT, cli_json, control_inspect, requests_total, running_lab

INSECURE = re.compile(
    r"cert_validation\s*=\s*False|verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False"
    r"|_create_unverified_context|disable_warnings")


def test_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    other = make_lab_ca(tmp_path / "other-ca")
    with running_lab(tmp_path / "lab") as lab:
        state = lab.dir / ".ipsec-remote"
        original = lab.lab_file()
        for bundle in (str(other.ca_bundle), None):  # another CA's bundle; no bundle: the system store
            data = json.loads(json.dumps(original))
            if bundle is None:
                data.pop("ca_bundle")
            else:
                data["ca_bundle"] = bundle
            write_lab_file(state, data)
            rc, report, err = cli_json(lab, "apply", "inventory.toml", "--lab", timeout=120)
            assert rc == 1, (bundle, report, err)
            for host in MANAGED:
                reason = report["failed_hosts"][host]
                assert "\n" not in reason and "TLS certificate" in reason and "not trusted" in reason, reason
            human = lab.cli("status", "inventory.toml", "--lab", timeout=120)
            assert human.returncode == 1 and "Traceback" not in human.stdout + human.stderr
            assert "TLS certificate" in human.stdout + human.stderr
            assert all(n == 0 for n in requests_total(control_inspect(lab)).values()), bundle
        # The lab's own CA: the same fleet is accepted, so the refusals were about the certificate alone.
        write_lab_file(state, original)
        rc, report, err = cli_json(lab, "apply", "inventory.toml", "--lab", timeout=120)
        assert rc == 0, (report, err)


def test_nothing_disables_certificate_validation() -> None:
    me = Path(__file__).resolve()
    hits = []
    for top in ("src", "tests"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.resolve() == me:
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if INSECURE.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, hits
    assert INSECURE.search("WSMan(cert_validation=False)") and INSECURE.search("ssl.CERT_NONE")  # the net works


def test_an_untrusted_certificate_is_not_retried() -> None:
    import requests

    from ipsec_remote.remote.transport import _is_transient

    untrusted = requests.exceptions.SSLError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert not _is_transient(untrusted)
    assert _is_transient(requests.exceptions.ConnectionError("connection reset"))
