"""The node side of a cluster certificate renewal (see
:mod:`ganeti.rpc.calls.crypto` for the steps and
:mod:`ganeti.http.tlsreload` for how the daemons follow the files).

Every write is atomic (temporary file, fsync, rename), so at each moment
``server.pem`` is a whole key+certificate and the set of accepted
certificates only grows until the finish.  Each step can be repeated.
"""

from __future__ import annotations

import os

from ganeti import crypto, errors, pathutils, redist
from ganeti.backend import handler
from ganeti.http import tlsreload
from ganeti.utils import io

_MODE = 0o400


def _files() -> tuple[str, str, str]:
    current = pathutils.get().noded_cert_file
    new, old = tlsreload.companions(current)
    return current, new, old


def _fingerprint(path: str) -> str | None:
    try:
        return crypto.cert_fingerprint(crypto.load_cert_file(path))
    except errors.GenericError:
        return None


def _remove(path: str) -> None:
    if os.path.lexists(path):
        io.remove_file(path)


@handler("cluster_cert_stage")
def cluster_cert_stage(data: list[str]) -> str:
    _current, new, _old = _files()
    key_pem, cert_pem = crypto.split_pem(redist.decode_data(data),
                                         "The new cluster certificate")
    crypto.write_pem_file(new, key_pem, cert_pem, mode=_MODE)
    return crypto.cert_fingerprint(cert_pem)


@handler("cluster_cert_switch")
def cluster_cert_switch(fingerprint: str) -> None:
    current, new, old = _files()
    if _fingerprint(current) == fingerprint:
        _remove(new)  # switched already (a repeated call)
        return
    if _fingerprint(new) != fingerprint:
        raise errors.OpPrereqError(
            f"No staged cluster certificate {fingerprint[:16]}... on this "
            "node; nothing switched")
    # Keep the certificate being replaced accepted until the finish.
    io.write_file_atomic(old, io.read_bytes(current), mode=_MODE)
    io.write_file_atomic(current, io.read_bytes(new), mode=_MODE)
    _remove(new)


@handler("cluster_cert_finish")
def cluster_cert_finish(fingerprint: str) -> None:
    current, new, old = _files()
    if _fingerprint(current) != fingerprint:
        raise errors.OpPrereqError(
            f"This node does not present the cluster certificate "
            f"{fingerprint[:16]}... yet; the previous one stays accepted")
    _remove(old)
    _remove(new)


@handler("cluster_cert_abort")
def cluster_cert_abort() -> None:
    _remove(_files()[1])
