"""Two nodes ``a`` and ``b`` with the lvm2 and DRBD simulators and one
drbd8 disk between them, built through the real driver (tests of the
simulator, the driver and the node's DRBD calls)."""

from __future__ import annotations

import os
from pathlib import Path

from ganeti import objects
from ganeti.standins.drbd import DrbdSimulator
from ganeti.standins.lvm import LvmSimulator
from ganeti.storage import StorageContext, drbd_ids, get_device
from ganeti.storage.drbd import Drbd8Device

IPS = {"a": "192.0.2.1", "b": "192.0.2.2"}
SIZE = 64  # MiB of the data volume


def drbd_disk(minors: tuple[int, int] = (0, 3), size: int = SIZE,
              params: dict[str, object] | None = None) -> objects.Disk:
    return objects.Disk(
        dev_type="drbd8", size=size, iv_name="disk/0",
        logical_id=["a", "b", 11000, minors[0], minors[1], "sekrit"],
        params=dict(params or {"resync_rate": 1024}),
        children=[objects.Disk(dev_type="lvm", size=size,
                               logical_id=["xenvg", "u.disk0_data"]),
                  objects.Disk(dev_type="lvm", size=128,
                               logical_id=["xenvg", "u.disk0_meta"])])


class Pair:
    """The two nodes; ``dev(node)`` is the disk's device there."""

    def __init__(self, tmp: Path, version: str) -> None:
        self.shared = str(tmp / "drbd-state")
        self.ctx: dict[str, StorageContext] = {}
        self.sim: dict[str, DrbdSimulator] = {}
        for node in IPS:
            root = tmp / node
            lvm = LvmSimulator(str(root / "lvm"))
            lvm.create_vg("xenvg", {"/dev/sda": 4096})
            self.sim[node] = DrbdSimulator(self.shared, str(root),
                                           str(root / "dev"), version=version)
            self.ctx[node] = StorageContext(lvm_runner=lvm.runner(),
                                            drbd_runner=self.sim[node].runner())
        self.sim["a"].set_step(0)
        self.disk = drbd_disk()

    def dev(self, node: str, disk: objects.Disk | None = None) -> Drbd8Device:
        dev = get_device(drbd_ids.for_node(disk or self.disk, node, IPS),
                         self.ctx[node])
        assert isinstance(dev, Drbd8Device)
        return dev

    def create(self) -> None:
        """Ganeti's order: the secondary, then the primary, which
        overwrites its peer (the initial sync starts)."""
        for node in ("b", "a"):
            self.dev(node).create(SIZE)
            self.dev(node).activate()
        self.dev("a").set_primary(force=True)

    def data(self, node: str) -> str:
        return self.dev(node).data.dev_path

    def read(self, path: str, length: int = 16) -> bytes:
        with open(path, "rb") as handle:
            return handle.read(length)

    def write(self, node: str, payload: bytes, offset: int = 0) -> None:
        with open(self.dev(node).dev_path, "r+b") as handle:
            handle.seek(offset)
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
