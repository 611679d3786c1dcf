"""Builders shared by the test_backend_* tests (no tests here).

Calls go through :func:`ganeti.backend.dispatch` exactly as the node
daemon runs them (:func:`call`), or through ``RpcClient`` with the
in-process transport (:func:`client`), which also checks every result
against its row.  :func:`on_node` switches this process to a node's root.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ganeti import backend, constants, errors, objects, params, pathutils
from ganeti.rpc.client import LocalTransport, RpcClient

SDIR = pathutils.CONFIGURED_FILE_STORAGE_DIR
INST = "inst1.example.com"
HVPARAMS = params.hv_defaults(constants.HT_FAKE)
BEPARAMS = params.be_defaults()


def call(name: str, *args: Any) -> Any:
    """Run a call as the node daemon does (arguments checked by the row)."""
    return backend.dispatch(name, list(args))


def failure(name: str, *args: Any) -> str:
    """The one-line failure message of a call that must fail."""
    with pytest.raises(errors.GenericError) as info:
        call(name, *args)
    message = str(info.value)
    assert message and "\n" not in message, message
    return message


@dataclasses.dataclass
class Node:
    name: str
    primary_ip: str
    offline: bool = False


def client() -> RpcClient:
    nodes = {"node1": Node("node1", "127.0.0.1")}
    return RpcClient(nodes.get, LocalTransport())


@contextlib.contextmanager
def on_node(root: Path) -> Iterator[pathutils.Paths]:
    """Run the body as the node whose root is ``root``."""
    paths = pathutils.set_root(str(root))
    try:
        yield paths
    finally:
        pathutils.set_root(None)


def file_disk(index: int = 0, size: int = 64, inst: str = INST,
              mode: str = constants.DISK_RDWR) -> objects.Disk:
    return objects.Disk(dev_type=constants.LD_FILE, size=size,
                        logical_id=[constants.FD_LOOP,
                                    f"{SDIR}/{inst}/disk{index}"],
                        iv_name=f"disk/{index}", mode=mode)


def make_instance(name: str = INST, *, os_name: str = "testos",
                  disks: list[objects.Disk] | None = None,
                  nics: list[objects.NIC] | None = None) -> objects.Instance:
    """A fake-hypervisor instance with file disks and one bridged NIC."""
    if disks is None:
        disks = [file_disk(0, inst=name), file_disk(1, 32, inst=name)]
    if nics is None:
        nics = [objects.NIC(mac="aa:00:00:11:22:33", ip="192.0.2.7")]
    return objects.Instance(name=name, primary_node="node1", os=os_name,
                            hypervisor=constants.HT_FAKE,
                            disk_template=constants.DT_FILE, disks=disks,
                            nics=nics)


def nicparams(inst: objects.Instance) -> list[dict[str, Any]]:
    return [params.fill(params.nic_defaults(), nic.nicparams)
            for nic in inst.nics]


def create_disks(inst: objects.Instance) -> list[str]:
    """Create every disk of ``inst`` on the current node; their paths."""
    return [call("blockdev_create", d.to_dict(), d.size, inst.name, True)
            for d in inst.disks]


def start_args(inst: objects.Instance) -> list[Any]:
    return [inst.to_dict(), dict(HVPARAMS), dict(BEPARAMS), nicparams(inst)]


def os_dir(paths: pathutils.Paths) -> Path:
    """The first entry of the node's OS search path (created)."""
    entry = Path(paths.os_search_path[0])
    os.makedirs(entry, exist_ok=True)
    return entry
