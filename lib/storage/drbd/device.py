"""The DRBD block device driver: one ``drbd8`` disk on this node.

The disk has two ``lvm`` children, the data volume and the metadata
volume (:data:`~ganeti.storage.drbd_ids.META_SIZE_MIB`), and arrives
with this node's physical id (:mod:`ganeti.storage.drbd_ids`):
the local and remote replication addresses, the port, this node's minor
and the shared secret.  Every step is a list of commands run by the
node's :class:`~ganeti.storage.drbd.runner.DrbdRunner`:

- :meth:`Drbd8Device.create`: the children, then ``drbdmeta create-md``
  on the metadata volume (the volumes are removed again on failure);
- :meth:`~Drbd8Device.activate` (assemble): ``new-resource``,
  ``new-minor``, ``attach`` the volumes with the disk options, then
  connect to the peer (protocol C, the secret); each part only when
  missing, so a half-assembled device is completed;
- :meth:`~Drbd8Device.set_primary` / :meth:`~Drbd8Device.set_secondary`,
  :meth:`~Drbd8Device.attach_net` / :meth:`~Drbd8Device.disconnect_net`,
  :meth:`~Drbd8Device.detach_disk` / :meth:`~Drbd8Device.attach_disks`
  (new volumes, with fresh metadata);
- :meth:`~Drbd8Device.deactivate` (shutdown): ``down`` (the volumes and
  the metadata stay); :meth:`~Drbd8Device.remove`: down, then the
  children;
- :meth:`~Drbd8Device.grow`: the data volume, then ``resize``;
- :meth:`~Drbd8Device.get_sync_status`: from the parsed state.
"""

from __future__ import annotations

from typing import Any

from ganeti import constants, errors, objects, pathutils
from ganeti.storage import drbd_ids
from ganeti.storage.base import BlockDev, LdiskStatus, StorageContext, SyncStatus
from ganeti.storage.drbd import commands
from ganeti.storage.drbd.runner import DrbdCommandError, DrbdRunner
from ganeti.storage.drbd.status import DrbdState


class Drbd8Device(BlockDev):
    """A DRBD device ``/dev/drbd<minor>`` over a data and a meta volume."""

    DEV_TYPE = constants.LD_DRBD8

    def __init__(self, disk: objects.Disk, *,
                 children: list[BlockDev] | None = None,
                 context: StorageContext | None = None) -> None:
        super().__init__(disk, children=children, context=context)
        self.lid = drbd_ids.parse_logical_id(self.logical_id)
        if len(self.children) != 2:
            raise errors.BlockDeviceError(
                f"DRBD disk {disk.iv_name or disk.uuid} needs two children"
                f" (data and metadata volume), has {len(self.children)}",
                errors.ErrorCode.INVAL)
        self.runner: DrbdRunner = self.context.drbd_runner or DrbdRunner()

    # Identity

    @property
    def endpoint(self) -> commands.Endpoint:
        pid = drbd_ids.parse_physical_id(self.disk.physical_id)
        return commands.Endpoint(pid.local_minor, pid.local_ip, pid.local_port,
                                 pid.remote_ip, pid.remote_port, pid.secret)

    @property
    def minor(self) -> int:
        return self.endpoint.minor

    @property
    def data(self) -> BlockDev:
        return self.children[0]

    @property
    def meta(self) -> BlockDev:
        return self.children[1]

    def _where(self) -> str:
        return (f"DRBD minor {self.minor} of"
                f" {self.disk.iv_name or self.disk.uuid} on node"
                f" {pathutils.hostname()}")

    def _error(self, what: str, err: errors.GenericError | None = None,
               code: errors.ErrorCode = errors.ErrorCode.ENVIRON
               ) -> errors.BlockDeviceError:
        reason = f": {err}" if err is not None else ""
        return errors.BlockDeviceError(f"{what} ({self._where()}){reason}",
                                       err.code if err is not None else code)

    def _run(self, what: str, *argvs: list[str]) -> None:
        for argv in argvs:
            try:
                self.runner.run(argv)
            except DrbdCommandError as err:
                raise self._error(f"Cannot {what}", err) from None

    # State

    def state(self) -> DrbdState | None:
        """The device's state on this node; None when not configured."""
        try:
            return self.runner.state(self.minor)
        except errors.BlockDeviceError as err:
            raise self._error("Cannot read the DRBD state", err) from None

    @property
    def dev_path(self) -> str:
        return self.runner.device_path(self.minor)

    @property
    def size_mib(self) -> int:
        return self.data.size_mib

    def exists(self) -> bool:
        return self.state() is not None

    def get_sync_status(self) -> SyncStatus:
        state = self.state()
        if state is None:
            return SyncStatus(dev_path=self.dev_path, is_degraded=True,
                              ldisk_status=LdiskStatus.FAULTY)
        return state.sync_status(self.dev_path)

    # Creation and removal

    def _set_child_stripes(self) -> None:
        p = commands.effective_params(self.disk.params)
        self.data.disk.params = {"stripes": p["data_stripes"]}
        self.meta.disk.params = {"stripes": p["meta_stripes"]}

    def create(self, size_mib: int) -> None:
        size = self._check_size("size", size_mib, allow_zero=False)
        if self.exists():
            raise self._error("DRBD device already in use",
                              code=errors.ErrorCode.EXISTS)
        self._set_child_stripes()
        self.data.create(size)
        try:
            self.meta.create(drbd_ids.META_SIZE_MIB)
            cmds = self.runner.commands()
            self._run("create the DRBD metadata",
                      cmds.create_md(self.minor, self.meta.dev_path))
        except BaseException:
            self.meta.remove()
            self.data.remove()
            raise

    def remove(self) -> None:
        self.deactivate()
        self.meta.remove()
        self.data.remove()

    def grow(self, amount_mib: int) -> None:
        amount = self._check_size("growth amount", amount_mib, allow_zero=True)
        if amount == 0:
            return
        self.data.grow(amount)
        if self.exists():
            self._run("resize the DRBD device",
                      *self.runner.commands().resize(self.endpoint,
                                                     self.data.size_mib))

    # Assembly

    def activate(self) -> None:
        """Assemble: the resource, the local disks, the connection; the
        parts already there are kept."""
        cmds, ep = self.runner.commands(), self.endpoint
        state = self.state()
        if state is None:
            for child in self.children:
                child.activate()
            self._run("set up the DRBD device", *cmds.new_resource(ep))
            state = self.state()
        if state is None or not state.has_disk:
            self.attach_disks()
            state = self.state()
        if state is None or state.connection == "StandAlone":
            self.attach_net(multimaster=False)

    def deactivate(self) -> None:
        if self.exists():
            self._run("shut down the DRBD device",
                      self.runner.commands().down(self.endpoint))

    def rename(self, new_id: list[Any]) -> None:
        """DRBD devices have no name on the node: a new logical id (a
        changed peer after replace-disks) only changes the config."""
        new = drbd_ids.parse_logical_id(new_id)
        self.lid = new
        self.logical_id = list(new_id)

    # Roles and the connection

    def set_primary(self, force: bool = False) -> None:
        """Make the device Primary; ``force`` overwrites the peer's data
        (the first sync of a new disk goes from here to the peer)."""
        self._run("make the DRBD device primary",
                  self.runner.commands().primary(self.endpoint, force))

    def set_secondary(self) -> None:
        self._run("make the DRBD device secondary",
                  self.runner.commands().secondary(self.endpoint))

    def attach_net(self, multimaster: bool) -> None:
        self._run("connect the DRBD device to its peer",
                  *self.runner.commands().connect(self.endpoint,
                                                  self.disk.params,
                                                  multimaster))

    def disconnect_net(self) -> None:
        state = self.state()
        if state is None:
            raise self._error("DRBD device not configured",
                              code=errors.ErrorCode.NOENT)
        if state.connection != "StandAlone":
            self._run("disconnect the DRBD device",
                      *self.runner.commands().disconnect(self.endpoint))

    def attach_disks(self, init_meta: bool = False) -> None:
        """Attach the children as the local disks (after
        :meth:`detach_disk`, e.g. new volumes of replace-disks);
        ``init_meta`` writes fresh metadata on the metadata volume first
        (a new, empty volume).  A connected peer resyncs them."""
        if init_meta:
            self._run("create the DRBD metadata",
                      self.runner.commands().create_md(self.minor,
                                                       self.meta.dev_path))
        self._run("attach the local disks",
                  self.runner.commands().attach(
                      self.endpoint, self.data.dev_path, self.meta.dev_path,
                      self.disk.params))

    def detach_disk(self) -> None:
        state = self.state()
        if state is not None and state.has_disk:
            self._run("detach the local disks",
                      self.runner.commands().detach(self.endpoint))
