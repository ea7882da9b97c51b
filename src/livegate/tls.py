"""TLS for ``livegate serve``: a server context from PEM files, or a fresh self-signed certificate.

The openai JS SDK 7.x and the Python SDK's beta namespace dial only ``wss://``; this lets them reach
the gateway without a TLS proxy in front. Bad files are a ``ConfigError`` naming the flag (exit code 2).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from livegate.errors import ConfigError

__all__ = ["SelfSigned", "fingerprint", "self_signed", "server_context"]

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
SELF_SIGNED_DAYS = 30
# A server certificate that signs handshakes and nothing else (RFC 5280 §4.2.1.3).
SIGNING_ONLY = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
    key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
)  # fmt: skip


def server_context(certfile: str, keyfile: str | None = None) -> ssl.SSLContext:
    """A server context for ``certfile`` (a PEM chain) and ``keyfile``, or the key held in ``certfile``."""
    for flag, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path is not None and not os.path.isfile(path):
            raise ConfigError(f"{flag} {path}: no such file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)

    def no_passphrase() -> str:
        # Without a callback OpenSSL would prompt on the terminal, which a service cannot answer.
        flag = f"--keyfile {keyfile}" if keyfile else f"--certfile {certfile}"
        raise ConfigError(f"{flag}: the private key is encrypted; livegate needs an unencrypted key")

    try:
        context.load_cert_chain(certfile, keyfile, password=no_passphrase)
    except ssl.SSLError as exc:
        raise ConfigError(_load_error(certfile, keyfile, exc)) from None
    except OSError as exc:
        raise ConfigError(f"--certfile {certfile}: cannot read it: {exc.strerror or exc}") from None
    return context


def _load_error(certfile: str, keyfile: str | None, exc: ssl.SSLError) -> str:
    """What OpenSSL's "PEM lib" meant, read from the files."""
    if "KEY_VALUES_MISMATCH" in str(exc):
        return f"--keyfile {keyfile or certfile} does not hold the key of --certfile {certfile}"
    try:
        x509.load_pem_x509_certificates(Path(certfile).read_bytes())
    except ValueError:
        return f"--certfile {certfile}: no PEM certificate in it"
    if keyfile is None:
        return f"--certfile {certfile}: no private key in it; pass --keyfile"
    return f"--keyfile {keyfile}: no PEM private key in it"


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the first certificate in ``cert_pem``, as browsers and ``openssl x509 -fingerprint`` show it."""
    digest = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA256())
    return ":".join(f"{byte:02X}" for byte in digest)


@dataclass(frozen=True)
class SelfSigned:
    certfile: Path
    keyfile: Path
    names: tuple[str, ...]  # what the certificate is valid for
    fingerprint: str


def self_signed(folder: Path, host: str, now: datetime.datetime) -> SelfSigned:
    """A new key and a self-signed certificate in ``folder`` (which should be private to the user),
    for the loopback names and ``host``; valid for SELF_SIGNED_DAYS from ``now``."""
    names = _names(host)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"livegate self-signed ({names[0]})")])
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # clocks that are a little behind
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        # RFC 5280 §4.2.1.6: clients match the host against the SAN only, never the common name.
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(SIGNING_ONLY, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # The key is readable by its owner only, from the moment it exists.
    descriptor = os.open(keyfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key_pem)
    certfile.write_bytes(cert_pem)
    return SelfSigned(certfile, keyfile, names, fingerprint(cert_pem))


def _names(host: str) -> tuple[str, ...]:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        extra = host.lower()
    else:  # on 0.0.0.0 or :: other machines dial this one by its name
        extra = socket.gethostname().lower() if address.is_unspecified else str(address)
    return tuple(dict.fromkeys((*LOCAL_NAMES, extra))) if extra and extra.isascii() else LOCAL_NAMES
