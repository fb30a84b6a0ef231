"""Test-wide: a Kerberos configuration that names no realm and never asks DNS.

With the gssapi package installed, a Negotiate client tries Kerberos first; the machine's /etc/krb5.conf
(Debian's krb5-config ships MIT's sample realms) would make it look KDCs up in DNS. Tests that use Kerberos
get the lab's own krb5.conf (lab.json ``krb5_conf``); everything else fails Kerberos at once, offline.
"""

from __future__ import annotations

import os
import tempfile

_conf = os.path.join(tempfile.mkdtemp(prefix="ipsec-remote-krb5-"), "krb5.conf")
with open(_conf, "w", encoding="utf-8") as fh:
    fh.write("[libdefaults]\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n")
os.environ["KRB5_CONFIG"] = _conf
