"""Runtime records of the drivers that keep one per instance (kvm, xen).

A runtime record is what actually runs (memory, vcpus, the hvparams and
NICs it was started with...), written as JSON when the instance starts,
so that information, reboot, console and migration use it instead of the
cluster configuration, which may have changed since.  The files are
written atomically (mode 0600: they may hold paths of secrets); a damaged
file is an error naming it, never guessed around.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ganeti import errors, serializer
from ganeti.utils import io


def write_record(path: str, record: Mapping[str, Any]) -> None:
    io.write_file_atomic(path, serializer.dumps(dict(record)), mode=0o600)


def read_record(path: str, what: str) -> dict[str, Any] | None:
    """The record in ``path``; None when there is none.  ``what`` names
    the file in errors (``KVM runtime file``)."""
    try:
        text = io.read_file(path)
    except errors.GenericError:
        if not os.path.exists(path):
            return None
        raise
    try:
        data = serializer.loads(text)
    except (ValueError, errors.GenericError):
        raise errors.HypervisorError(f"{what} {path} is damaged") from None
    if not isinstance(data, dict):
        raise errors.HypervisorError(f"{what} {path} is damaged")
    return data
