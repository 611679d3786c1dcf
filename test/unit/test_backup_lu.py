"""LUBackupExport and the import mode of LUInstanceCreate with the
in-process RPC transport (one node's export directory; the node-to-node
stream is covered by test/integration/test_backup_cluster.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from instance_lu_support import NODE1, Env, create_op, install_os, lu_env

from ganeti import constants, errors, opcodes, pathutils
from ganeti.hypervisor.fake import FakeHypervisor

NAME = "inst1.example.com"
EXPORT = "#!/bin/sh\nprintf 'dump of %s' \"$EXPORT_INDEX\"\n"
FAILING_EXPORT = "#!/bin/sh\nprintf partial\necho 'disk unreadable' >&2\nexit 3\n"
IMPORT = "#!/bin/sh\ncat > \"$IMPORT_DEVICE.seen\"\n"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: Any) -> Iterator[Env]:
    yield from lu_env(tmp_path, monkeypatch)


def _setup(env: Env, export_script: str) -> None:
    install_os(env, scripts={"export": export_script, "import": IMPORT})
    env.run(create_op(NAME, nics=[], start=False))


def _export_dir() -> Path:
    return Path(pathutils.get().export_dir)


def test_failed_export_restarts_the_instance_and_removes_the_partial_one(
        env: Env) -> None:
    _setup(env, FAILING_EXPORT)
    env.run(opcodes.OpInstanceStartup(instance_name=NAME))
    with pytest.raises(errors.OpExecError) as err:
        env.run(opcodes.OpBackupExport(instance_name=NAME, target_node=NODE1,
                                       remove_instance=True))
    message = str(err.value)
    assert "disk unreadable" in message
    assert message.endswith("the partial export was removed")
    assert os.listdir(_export_dir()) == []
    inst = env.cfg.get_instance(NAME)
    assert inst is not None and inst.admin_up  # not removed, running again
    hv = FakeHypervisor(state_dir=pathutils.get().fake_hv_dir)
    assert hv.list_instances() == [NAME]


def test_local_export_and_import(env: Env) -> None:
    _setup(env, EXPORT)
    env.run(opcodes.OpInstanceStartup(instance_name=NAME))
    with pytest.raises(errors.OpPrereqError, match="have no snapshots"):
        env.run(opcodes.OpBackupExport(instance_name=NAME, target_node=NODE1,
                                       shutdown=False))
    env.run(opcodes.OpBackupExport(instance_name=NAME, target_node=NODE1))
    assert any("disk/0: 100% of 64.0 MiB, 0.0 MiB of data sent" in m
               for m in env.ctx.messages), env.ctx.messages
    dump = _export_dir() / NAME / "disk0.dump"
    assert dump.read_bytes() == b"dump of 0"
    result = env.run(opcodes.OpBackupQuery(nodes=[]))
    assert result[NODE1] == [NAME]

    env.run(create_op("inst2.example.com", mode=constants.INSTANCE_IMPORT,
                      os_type=None, disks=[], nics=[], src_node=NODE1,
                      src_path=NAME))
    inst = env.cfg.get_instance("inst2.example.com")
    assert inst is not None and inst.os == "testos"
    assert [d.size for d in inst.disks] == [64]
    seen = Path(pathutils.get().under(
        f"{pathutils.CONFIGURED_FILE_STORAGE_DIR}/inst2.example.com"
        "/disk0.seen"))
    assert seen.read_bytes() == b"dump of 0"

    env.run(opcodes.OpBackupRemove(instance_name=NAME))
    assert os.listdir(_export_dir()) == []
