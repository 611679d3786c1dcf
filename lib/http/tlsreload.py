"""TLS material that follows its files: certificate renewal without a
daemon restart and without a moment where two cluster members can not
talk (``gnt-cluster renew-crypto``, ``doc/design/renew-crypto.rst``).

A :class:`CertFiles` names the file a process *presents* (key and
certificate, e.g. ``server.pem``) and the files whose certificates it
additionally *trusts* during a renewal: ``server.pem.new`` (staged,
not yet presented) and ``server.pem.old`` (presented before the switch).
Each use calls :meth:`CertFiles.current`, which compares the files'
signatures (inode, mtime, size) with those of the last build and
rebuilds the TLS context and the pinned fingerprints when one changed.
A stat of three files per new connection is the whole cost.

Files that are missing or unreadable among the *trusted extras* are
ignored (a half-written staged file must not stop the daemon); the
presented file must be valid, as at startup.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from typing import Final

from ganeti import crypto, errors
from ganeti.http import tls
from ganeti.utils import filewatch

_log = logging.getLogger(__name__)

#: Readings of the files before the last one is used even if they keep
#: changing (each renewal step changes them at most three times).
_STABLE_READS: Final = 10
#: Suffixes of the renewal companions of a certificate file.
NEW_SUFFIX: Final = ".new"
OLD_SUFFIX: Final = ".old"

#: (context, pinned fingerprints or None for "no client certificate").
TlsState = tuple[ssl.SSLContext, frozenset[str] | None]
ContextBuilder = Callable[[str, list[bytes]], ssl.SSLContext]


def companions(cert_file: str) -> tuple[str, str]:
    """The staged and the previous file of ``cert_file``."""
    return cert_file + NEW_SUFFIX, cert_file + OLD_SUFFIX


def trusted_certs(cert_file: str) -> list[bytes]:
    """The certificates to accept from peers: the presented one first,
    then those of the staged and previous files that are valid."""
    certs = [crypto.load_cert_file(cert_file)]
    for extra in companions(cert_file):
        try:
            pem = crypto.load_cert_file(extra)
        except errors.GenericError:
            continue  # absent (the usual case) or half-written
        if pem not in certs:
            certs.append(pem)
    return certs


def mutual_server_context(cert_file: str, trusted: list[bytes]
                          ) -> ssl.SSLContext:
    """A server context presenting ``cert_file`` that requires clients
    to present one of ``trusted``."""
    return tls.server_context(cert_file, client_ca_pem=b"".join(trusted))


def plain_server_context(cert_file: str, trusted: list[bytes]
                         ) -> ssl.SSLContext:
    """A server context presenting ``cert_file``, no client certificate."""
    return tls.server_context(cert_file)


class CertFiles:
    """The current TLS state of one certificate file and its companions.

    ``build`` makes the context from the presented file and the trusted
    certificates; ``pin`` says whether peers are pinned to the trusted
    set (noded, node RPC) or not (the RAPI serves anyone).
    """

    def __init__(self, cert_file: str, build: ContextBuilder, *,
                 pin: bool = True) -> None:
        self.cert_file = cert_file
        self._build = build
        self._pin = pin
        self._lock = threading.Lock()
        self._files = (cert_file, *companions(cert_file))
        self._signature: Sequence[filewatch.Signature] = ()
        self._state: TlsState | None = None
        self._trusted: list[bytes] = []
        self.current()  # a bad presented file is an error at once

    def _signatures(self) -> list[filewatch.Signature]:
        return [filewatch.signature(path) for path in self._files]

    def _load_stable(self) -> tuple[list[filewatch.Signature], list[bytes]]:
        """The files' signatures and trusted certificates, read again
        while a file changes during the reading: the three files are not
        read at one instant, and a renewal step between two reads could
        otherwise leave out the certificate that moved (read
        ``server.pem`` before a switch, the companions after it)."""
        sig = self._signatures()
        for _attempt in range(_STABLE_READS):
            trusted = trusted_certs(self.cert_file)
            after = self._signatures()
            if after == sig:
                break
            sig = after
        return sig, trusted

    def _build_stable(self) -> tuple[list[filewatch.Signature], list[bytes],
                                     ssl.SSLContext]:
        """Signatures, trusted certificates and the context built from
        them.  OpenSSL reads the presented file twice (certificate, then
        key): a renewal step replacing it in between makes the build fail
        with a key that does not match; then the files changed, and the
        build is done again."""
        attempts = 1
        while True:
            sig, trusted = self._load_stable()
            try:
                return sig, trusted, self._build(self.cert_file, trusted)
            except errors.GenericError:
                if attempts == _STABLE_READS or self._signatures() == sig:
                    raise
            attempts += 1

    def current(self) -> TlsState:
        """The context and pins for a new connection (rebuilt when a file
        changed).  If the presented file became unusable, the last good
        state stays in use and the problem is logged."""
        with self._lock:
            return self._refresh()

    def material(self) -> tuple[TlsState, list[bytes]]:
        """:meth:`current` and the trusted certificates it was built
        from (for a TLS stack other than :mod:`ssl`)."""
        with self._lock:
            return self._refresh(), self._trusted

    def _refresh(self) -> TlsState:
        """:meth:`current`, the lock held."""
        if self._state is not None and \
                self._signatures() == self._signature:
            return self._state
        try:
            sig, trusted, context = self._build_stable()
        except errors.GenericError as err:
            if self._state is None:
                raise
            _log.error("Keeping the previous TLS setup: %s", err)
            return self._state
        pins = (frozenset(crypto.cert_fingerprint(c) for c in trusted)
                if self._pin else None)
        if self._state is not None:
            _log.info("TLS material of %s changed: now trusting %d "
                      "certificate(s)", self.cert_file, len(trusted))
        self._state = (context, pins)
        self._trusted = trusted
        self._signature = sig
        return self._state
