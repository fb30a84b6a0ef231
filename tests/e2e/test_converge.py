"""Plans converge for every valid inventory (issue 12): after apply, the plan against what the hosts report
is empty — whatever the crypto, auth (certificate without -Signing, pre-shared keys), key module, profile,
pairs and exemptions (an IPv6 address written as Windows would not). Objects are read as bare CIM
instances (the lab's default); the e2e rollout test runs a second apply under the type layer too.

Property-based: hypothesis generates valid inventories for one lab fleet; each is applied on top of
whatever the previous one left, then ``plan --detailed-exitcode`` must exit 0. A handful of examples keep
it around a minute.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ipsec_remote.model.crypto_lint import find_weaknesses
from ipsec_remote.model.inventory import Inventory, parse_inventory

from .conftest import Lab, running_lab

LAB_CA = "CN=ipsec-remote lab root CA"  # the lab hosts' machine-certificate authority (no auth.authority)
PSK_ENV = "IPSEC_REMOTE_TEST_CONVERGE_PSK"
HOSTS = [{"name": "sql01", "address": "10.10.1.20", "groups": ["db"]},
         {"name": "app01", "address": "10.10.1.30", "groups": ["app"]},
         {"name": "web01", "address": "10.10.1.40", "groups": ["app"]}]
BASE: dict[str, Any] = {
    "controller": {"address": "10.10.1.100"},
    "connection": {"scheme": "https", "auth": "negotiate"},
    "hosts": HOSTS,
    "exemptions": [{"name": "dc01", "address": "10.10.1.5", "role": "domain_controller"}],
}

mm_proposal = st.fixed_dictionaries({
    "encryption": st.sampled_from(["DES3", "AES128", "AES192", "AES256"]),
    "hash": st.sampled_from(["SHA1", "SHA256", "SHA384"]),
    "key_exchange": st.sampled_from(["DH2", "DH14", "DH19", "DH20", "DH24"]),
})
INTEGRITY = ["SHA1", "SHA256", "AESGMAC128", "AESGMAC256"]
qm_proposal = st.one_of(
    st.fixed_dictionaries({"encapsulation": st.just("ESP"),
                           "encryption": st.sampled_from(["AES128", "AES256", "DES3", "AESGCM128", "AESGCM256"]),
                           "esp_hash": st.sampled_from([*INTEGRITY, "None"])}),
    st.fixed_dictionaries({"encapsulation": st.just("ESP"), "encryption": st.just("None"),
                           "esp_hash": st.sampled_from(INTEGRITY)}),
    st.fixed_dictionaries({"encapsulation": st.just("AH"), "ah_hash": st.sampled_from(INTEGRITY)}),
    st.fixed_dictionaries({"encapsulation": st.just("AH,ESP"), "ah_hash": st.sampled_from(INTEGRITY),
                           "encryption": st.sampled_from(["AES128", "AES256"]),
                           "esp_hash": st.sampled_from(INTEGRITY)}),
)
auth = st.one_of(
    st.just({"method": "kerberos"}),
    st.builds(lambda kind, signing: {"method": "certificate", "authority": LAB_CA, "authority_type": kind,
                                     **({"signing": signing} if signing else {})},
              st.sampled_from(["Root", "Intermediate"]), st.sampled_from([None, "RSA", "ECDSA256", "ECDSA384"])),
    st.just({"method": "psk", "psk_env": PSK_ENV, "allow_psk_for_testing": True}),
)
pair = st.one_of(
    st.fixed_dictionaries({"a": st.just("app01"), "b": st.just("sql01"), "protocol": st.just("Any")}),
    st.fixed_dictionaries({"a": st.just("app01"), "b": st.just("sql01"), "protocol": st.just("TCP"),
                           "ports": st.just([1433]), "probe_port": st.just(1433)}),
    st.fixed_dictionaries({"a": st.just("group:app"), "b": st.just("sql01"), "protocol": st.just("TCP"),
                           "ports": st.just([1433, 1434]), "probe_port": st.just(1433)}),
    # No UDP pair: its rule could never be proven by the TCP probe, so the inventory refuses it (issue 12,
    # inputs that cannot work); a second TCP pair with a port of its own instead.
    st.fixed_dictionaries({"a": st.just("web01"), "b": st.just("app01"), "protocol": st.just("TCP"),
                           "ports": st.just([5022]), "probe_port": st.just(5022)}),
)
extra_exemption = st.sampled_from([
    [], [{"name": "dns01", "address": "10.10.1.53", "role": "dns"}],
    # Windows shows an IPv6 address compressed and lower case; the inventory may not.
    [{"name": "dhcp6", "address": "2001:DB8:0:0::67", "role": "dhcp"}],
])


@st.composite
def inventories(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(auth)
    modules = ["IKEv1", "AuthIP", "Default"] + (["IKEv2"] if method["method"] == "certificate" else [])
    inv = {
        **BASE,
        "policy": {"key_module": draw(st.sampled_from(modules)),
                   "profile": draw(st.sampled_from(["Any", "Domain", "Private"])),
                   "server_isolation": draw(st.booleans())},
        "crypto": {
            "main_mode": {"proposals": draw(st.lists(mm_proposal, min_size=1, max_size=2)),
                          "max_minutes": draw(st.sampled_from([60, 480, 2879]))},
            "quick_mode": {"proposals": draw(st.lists(qm_proposal, min_size=1, max_size=2)),
                           "pfs_group": draw(st.sampled_from(["None", "DH14", "DH19", "SameAsMainMode"]))},
        },
        "auth": method,
        "exemptions": BASE["exemptions"] + draw(extra_exemption),
        "pairs": draw(st.lists(pair, min_size=1, max_size=2, unique_by=lambda p: (p["a"], p["b"]))),
    }
    # Weak choices converge too: the inventory accepts the ones it draws, as an operator would.
    weak = sorted({w.name for w in find_weaknesses(Inventory.model_validate(inv)) if w.rule.refused})
    if weak:
        inv["crypto"]["allow_weak"] = weak
    parse_inventory(inv)  # every generated inventory is valid (else the strategy is wrong)
    return inv


def toml(doc: dict[str, Any]) -> str:
    """The inventory as TOML: tables for dicts, arrays of tables for lists of dicts, JSON-compatible values."""
    out: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v)

    for key, v in doc.items():
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for item in v:
                out.append(f"[[{key}]]")
                out.extend(f"{k} = {value(x)}" for k, x in item.items())
        elif isinstance(v, dict):
            plain = {k: x for k, x in v.items() if not isinstance(x, dict)}
            out.append(f"[{key}]")
            out.extend(f"{k} = {value(x)}" for k, x in plain.items())
            for sub, x in v.items():
                if isinstance(x, dict):
                    out.append(f"[{key}.{sub}]")
                    out.extend(f"{k} = {value(y)}" for k, y in x.items())
        else:
            out.insert(0, f"{key} = {value(v)}")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def converge_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("converge"), toml(BASE | {"pairs": [{"a": "app01", "b": "sql01"}]}),
                     faults="[assumptions]\ntype_layer = false\n") as lab:
        # Convergence is about what is written and read back: apply without the proof round (the 4-way
        # e2e test proves pairs), which keeps an example to a few seconds.
        (lab.dir / "playbooks" / "server-to-server.toml").write_text(
            '[rollout]\nphases = ["exemptions", "sets", "main_mode_rules", "rules"]\n')
        yield lab


CERT_WITHOUT_SIGNING = {**BASE, "auth": {"method": "certificate", "authority": LAB_CA},
                        "pairs": [{"a": "app01", "b": "sql01"}]}
PSK = {**BASE, "auth": {"method": "psk", "psk_env": PSK_ENV, "allow_psk_for_testing": True},
       "pairs": [{"a": "app01", "b": "sql01"}]}


@settings(max_examples=6, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(inv=inventories())
@example(inv=CERT_WITHOUT_SIGNING)
@example(inv=PSK)
def test_apply_then_plan_has_nothing_to_do(converge_lab: Lab, inv: dict[str, Any]) -> None:
    os.environ[PSK_ENV] = "lab-only-pre-shared-key"
    converge_lab.inventory.write_text(toml(inv))
    applied = converge_lab.cli("apply", "inventory.toml", "--lab")
    assert applied.returncode == 0, f"{toml(inv)}\n{applied.stdout}\n{applied.stderr}"
    plan = converge_lab.cli("plan", "inventory.toml", "--lab", "--detailed-exitcode")
    assert plan.returncode == 0, f"{toml(inv)}\n{plan.stdout}\n{plan.stderr}"


def test_generated_inventories_round_trip_through_toml(tmp_path: Path) -> None:
    path = tmp_path / "inventory.toml"
    for inv in (CERT_WITHOUT_SIGNING, PSK, BASE | {"pairs": [{"a": "group:app", "b": "sql01", "protocol": "TCP",
                                                              "ports": [1433], "probe_port": 1433}]}):
        path.write_text(toml(inv))
        from ipsec_remote.model.inventory import load_inventory

        assert load_inventory(path).model_dump(exclude_defaults=True)["hosts"][0]["name"] == "sql01"
