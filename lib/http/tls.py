"""TLS contexts with pinning to one certificate.

The standard :mod:`ssl` module is enough: the cluster certificate is
self-signed, so loading it as the *only* trust anchor makes OpenSSL refuse
during the handshake any peer that does not present it (or a certificate
it signed; there are none, it is not a CA).  After the handshake the
peer's certificate is compared byte for byte (SHA-256 of its DER form)
with the pinned one, so trust never depends on chain-building details.
Host names are not checked: nodes are addressed by IP and all share one
certificate.
"""

from __future__ import annotations

import ssl
from collections.abc import Collection

from ganeti import crypto, errors


class PinMismatch(Exception):
    """The peer's certificate is not the pinned one."""


def _base(purpose: int) -> ssl.SSLContext:
    ctx = ssl.SSLContext(purpose)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _load_chain(ctx: ssl.SSLContext, cert_file: str) -> None:
    try:
        ctx.load_cert_chain(cert_file)
    except (OSError, ssl.SSLError) as err:
        raise errors.OpExecError(
            f"Cannot load certificate file {cert_file}: "
            f"{getattr(err, 'strerror', None) or err}",
            errors.ErrorCode.ENVIRON) from None


def server_context(cert_file: str, *,
                   client_ca_pem: bytes | None = None) -> ssl.SSLContext:
    """A server context presenting ``cert_file`` (key and certificate).

    With ``client_ca_pem`` clients must present that certificate (mutual
    TLS, pinned); without it no client certificate is asked for.
    """
    crypto.load_pem_file(cert_file)  # a clear error for a bad file
    ctx = _base(ssl.PROTOCOL_TLS_SERVER)
    _load_chain(ctx, cert_file)
    if client_ca_pem is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=client_ca_pem.decode("ascii"))
    return ctx


def client_context(server_cert_pem: bytes | None, *,
                   cert_file: str | None = None) -> ssl.SSLContext:
    """A client context trusting only ``server_cert_pem`` (None: no
    verification at all, for tools talking to a RAPI with an unknown
    certificate) and presenting ``cert_file`` when given."""
    ctx = _base(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if server_cert_pem is None:
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cadata=server_cert_pem.decode("ascii"))
    if cert_file is not None:
        crypto.load_pem_file(cert_file)
        _load_chain(ctx, cert_file)
    return ctx


def peer_fingerprint(sock: ssl.SSLSocket | ssl.SSLObject) -> str | None:
    der = sock.getpeercert(binary_form=True)
    return crypto.der_fingerprint(der) if der else None


def check_pin(sock: ssl.SSLSocket | ssl.SSLObject,
              fingerprint: str | Collection[str]) -> None:
    """Raise :class:`PinMismatch` unless the peer presented exactly the
    certificate with this fingerprint (or one of these, while a renewal
    makes nodes accept two)."""
    found = peer_fingerprint(sock)
    allowed = {fingerprint} if isinstance(fingerprint, str) else fingerprint
    if found not in allowed:
        raise PinMismatch(
            "peer certificate is not the cluster certificate "
            f"(sha256 {found[:16] + '...' if found else 'none'})")


def describe_ssl_error(err: ssl.SSLError) -> str:
    """One readable line for a TLS failure (no OpenSSL source positions)."""
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {err.verify_message}"
    if err.reason:
        return str(err.reason).lower().replace("_", " ")
    return (str(err) or type(err).__name__).splitlines()[0]
