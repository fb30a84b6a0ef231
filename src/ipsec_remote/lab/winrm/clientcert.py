"""Client certificates for WinRM certificate authentication (``lab up --auth certificate``).

Windows maps a client certificate to a local account through ``WSMan:\\localhost\\ClientCertificate``
entries (Subject = the user principal name in the certificate's SAN, Issuer = the thumbprint of the CA
that issued it); the certificate needs the Client Authentication EKU and a UPN subject alternative name
(learn.microsoft.com, "Authentication for remote connections", certificate mapping / New-Item
WSMan:\\localhost\\ClientCertificate). The lab issues one such certificate from its own CA, and each
endpoint maps the UPN it was given.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from .tls import TlsMaterial

UPN_OID = ObjectIdentifier("1.3.6.1.4.1.311.20.2.3")  # szOID_NT_PRINCIPAL_NAME


def _der_utf8(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) >= 128:
        raise ValueError("UPN too long for the lab's certificate")
    return bytes([0x0C, len(data)]) + data  # UTF8String, short-form length


def upn_of(der: bytes) -> str | None:
    try:
        cert = x509.load_der_x509_certificate(der)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    for name in san.get_values_for_type(x509.OtherName):
        if name.type_id == UPN_OID and len(name.value) >= 2 and name.value[0] == 0x0C:
            return bytes(name.value[2:]).decode("utf-8", errors="replace")
    return None


def make_client_certificate(tls: TlsMaterial, upn: str, directory: Path, days: int = 30) -> tuple[Path, Path]:
    """A client certificate (Client Authentication EKU, UPN SAN) issued by the lab CA: (cert, key) paths."""
    ca_key = serialization.load_pem_private_key(tls.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(tls.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, upn.split("@")[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.OtherName(UPN_OID, _der_utf8(upn))]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_path, key_path = directory / "lab-client.pem", directory / "lab-client.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
