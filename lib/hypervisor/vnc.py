"""VNC settings shared by the drivers that offer a VNC console (kvm and
xen-hvm).

The password comes from the ``vnc_password_file`` hvparam: a *configured*
path (the cluster default ``<sysconfdir>/ganeti/vnc-cluster-password``)
that the cluster copies to every node (``gnt-cluster redist-conf``; both
drivers list it in ``ANCILLARY_FILE_PARAMETERS``).  Each node reads its
copy, relocated under its root, at start time; the first line is the
password.
"""

from __future__ import annotations

from typing import Final

from ganeti import errors, pathutils

#: VNC displays are counted from this TCP port.
VNC_BASE_PORT: Final = 5900


def read_vnc_password(instance_name: str, path: str) -> str:
    """The first line of ``path``: a missing, unreadable or empty file is a
    clear error naming the instance and the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            line = handle.readline().strip()
    except OSError as err:
        raise errors.HypervisorError(
            f"Instance {instance_name}: cannot read the VNC password file"
            f" {path}: {err.strerror or err}", errors.ErrorCode.ENVIRON
        ) from None
    except UnicodeDecodeError:
        raise errors.HypervisorError(
            f"Instance {instance_name}: the VNC password file {path} is not"
            " text", errors.ErrorCode.ENVIRON) from None
    if not line:
        raise errors.HypervisorError(
            f"Instance {instance_name}: the VNC password file {path} is empty",
            errors.ErrorCode.ENVIRON)
    return line


def node_password(instance_name: str, configured_path: str) -> str:
    """The password in this node's copy of ``configured_path`` (relocated
    under the node's root)."""
    return read_vnc_password(instance_name,
                             pathutils.get().under(configured_path))


def vnc_display(instance_name: str, port: int | None) -> int:
    """The VNC display number of TCP ``port`` (the instance's network
    port); an instance without one cannot have a VNC server."""
    if port is None:
        raise errors.HypervisorError(
            f"Instance {instance_name} has VNC enabled but no network port",
            errors.ErrorCode.INVAL)
    display = port - VNC_BASE_PORT
    if display < 0:
        raise errors.HypervisorError(
            f"Instance {instance_name}: VNC port {port} is below"
            f" {VNC_BASE_PORT}", errors.ErrorCode.INVAL)
    return display
