"""Cluster certificates and keys.

Ganeti keeps a private key and its self-signed certificate together in one
PEM file: ``server.pem`` (the *cluster certificate*, used by every node
daemon and by the master when it calls them) and ``rapi.pem`` (the RAPI's
HTTPS certificate).  The confd HMAC key lives in ``hmac.key``.

Keys are EC P-256 by default: generating one takes about a millisecond
(an RSA 2048 key takes tens of milliseconds and tests make many), its TLS
handshakes are cheaper for the server, and every TLS client of the last
decade accepts it.  ``key_type="rsa"`` gives an RSA 2048 key for sites
whose tools insist on RSA.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from typing import Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ganeti import errors
from ganeti.utils import io

KeyType = Literal["ec", "rsa"]

#: Validity of generated certificates, in days (Ganeti: five years).
DEFAULT_VALIDITY_DAYS: Final = 5 * 365
#: Start of validity this far in the past, so nodes with a slightly late
#: clock accept a certificate made a moment ago on the master.
_CLOCK_SKEW: Final = datetime.timedelta(hours=1)
RSA_BITS: Final = 2048
HMAC_KEY_BYTES: Final = 32
#: Random bytes of a generated cluster domain secret (Ganeti: 20).
DOMAIN_SECRET_BYTES: Final = 20
#: The shortest cluster domain secret accepted from a file.
MIN_DOMAIN_SECRET: Final = 16


def _env_error(message: str) -> errors.OpExecError:
    return errors.OpExecError(message, errors.ErrorCode.ENVIRON)


def generate_self_signed(common_name: str, *,
                         validity_days: int = DEFAULT_VALIDITY_DAYS,
                         key_type: KeyType = "ec") -> tuple[bytes, bytes]:
    """A new private key and a self-signed certificate for it, both PEM.

    The certificate names ``common_name`` as subject and issuer, plus a
    random serial number attribute: every generated certificate has a
    subject of its own.  That matters while a renewal makes peers trust
    the old and the new cluster certificate at once: OpenSSL looks a
    self-signed certificate up in its trust store by subject, takes the
    first match, and fails the verification when that is the other
    certificate.  It is an end-entity certificate (not a CA): peers trust
    it by pinning, never as an issuer of other certificates.
    """
    if not common_name or validity_days <= 0:
        raise errors.ProgrammerError(
            f"Invalid certificate request: name {common_name!r}, "
            f"{validity_days} days")
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    elif key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    else:
        raise errors.ProgrammerError(f"Unknown key type {key_type!r}")
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, secrets.token_hex(8))])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW)
            .not_valid_after(now + datetime.timedelta(days=validity_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def write_pem_file(path: str, key_pem: bytes, cert_pem: bytes, *,
                   mode: int = 0o400) -> None:
    """Write key and certificate into one file, atomically, not readable
    by others (default mode 0400)."""
    data = key_pem.rstrip(b"\n") + b"\n" + cert_pem
    io.write_file_atomic(path, data, mode=mode)


def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    """``(label, block)`` for every PEM block in ``data``."""
    blocks: list[tuple[str, bytes]] = []
    pos = 0
    while True:
        start = data.find(b"-----BEGIN ", pos)
        if start < 0:
            return blocks
        label_end = data.find(b"-----", start + 11)
        if label_end < 0:
            return blocks
        label = data[start + 11:label_end]
        end_marker = b"-----END " + label + b"-----"
        end = data.find(end_marker, label_end)
        if end < 0:
            return blocks
        stop = end + len(end_marker)
        blocks.append((label.decode("ascii", "replace"), data[start:stop] + b"\n"))
        pos = stop


def split_pem(data: bytes, origin: str = "PEM data") -> tuple[bytes, bytes]:
    """Check and split a combined PEM into ``(key_pem, cert_pem)``.

    Raises :class:`~ganeti.errors.OpExecError` (code ``ENVIRON``) when a
    part is missing or unparsable, or the key does not belong to the
    certificate; ``origin`` names the source in the message.
    """
    keys = [b for label, b in _pem_blocks(data) if label.endswith("PRIVATE KEY")]
    certs = [b for label, b in _pem_blocks(data) if label == "CERTIFICATE"]
    if len(keys) != 1 or len(certs) != 1:
        raise _env_error(f"{origin} must hold one private key and one "
                         f"certificate (found {len(keys)} and {len(certs)})")
    try:
        key = serialization.load_pem_private_key(keys[0], password=None)
        cert = x509.load_pem_x509_certificate(certs[0])
    except (ValueError, TypeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise _env_error(f"{origin} is corrupt: {reason}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, public)
            != cert.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise _env_error(f"{origin}: the private key does not match the "
                         "certificate")
    return keys[0], certs[0]


def load_pem_file(path: str) -> tuple[bytes, bytes]:
    """Read a combined key+certificate file: ``(key_pem, cert_pem)``."""
    return split_pem(io.read_bytes(path), f"Certificate file {path}")


def load_cert_file(path: str) -> bytes:
    """Only the certificate of a combined file (what a client pins)."""
    return load_pem_file(path)[1]


def cert_fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the certificate's DER encoding, lowercase hex."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as err:
        raise _env_error(f"Invalid certificate: {err}") from None
    return der_fingerprint(cert.public_bytes(serialization.Encoding.DER))


def der_fingerprint(cert_der: bytes) -> str:
    """SHA-256 of a DER certificate (what TLS peers present), lowercase hex."""
    return hashlib.sha256(cert_der).hexdigest()


def cert_expiry(cert_pem: bytes) -> datetime.datetime:
    """When the certificate stops being valid (UTC); cluster verify warns."""
    return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc


def generate_domain_secret() -> str:
    """A new cluster domain secret (the content of
    ``cluster-domain-secret``): random hex, with a final newline."""
    return secrets.token_hex(DOMAIN_SECRET_BYTES) + "\n"


def check_domain_secret(text: str, source: str) -> str:
    """A cluster domain secret read from ``source``: one line of
    printable characters (surrounding white space dropped), at least
    :data:`MIN_DOMAIN_SECRET` long; the file's content to write."""
    secret = text.strip()
    if len(secret) < MIN_DOMAIN_SECRET or "\n" in secret \
            or not secret.isprintable():
        raise errors.OpPrereqError(
            f"{source} must hold one line of at least {MIN_DOMAIN_SECRET}"
            " printable characters", errors.ErrorCode.INVAL)
    return secret + "\n"


def generate_hmac_key() -> str:
    """A new confd HMAC key: 256 random bits as hex, with a final newline
    (the content of ``hmac.key``)."""
    return secrets.token_hex(HMAC_KEY_BYTES) + "\n"
