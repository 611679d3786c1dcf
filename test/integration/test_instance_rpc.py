"""An instance's life on two real node daemons (127.0.0.1 and 127.0.0.2,
each under its own root): file disks, the example OS, start, migration to
the other node, stop.

File disks are not shared between nodes; the test creates the same disks
on both nodes, as shared file storage would provide them, because the
target refuses to receive an instance whose disks it cannot activate.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_noded import Node, accepts, free_port, start_noded, stop
from testkit import wait_for

from ganeti import constants, crypto, objects, params, pathutils
from ganeti.hypervisor.base import InstanceInfo, MigrationStatus
from ganeti.rpc.client import RpcClient
from ganeti.rpc.transport import HttpsTransport
from ganeti.storage import SyncStatus

pytestmark = pytest.mark.integration

EXAMPLE_OS = Path(__file__).resolve().parents[2] / "doc" / "examples" / "os" \
    / "ganeti-demo-os"
INST = "web1.example.com"
SDIR = pathutils.CONFIGURED_FILE_STORAGE_DIR


@pytest.fixture
def nodes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[tuple[RpcClient, dict[str, Node]]]:
    monkeypatch.setenv("FAKE_HV_MEMORY_MIB", "2048")
    monkeypatch.setenv("FAKE_HV_CPU_COUNT", "2")
    cert_file = str(tmp_path / "server.pem")
    key_pem, cert_pem = crypto.generate_self_signed("cluster", validity_days=1)
    crypto.write_pem_file(cert_file, key_pem, cert_pem)
    nodes = {f"node{i}": Node(f"node{i}", f"127.0.0.{i}", tmp_path / f"node{i}")
             for i in (1, 2)}
    port = free_port([n.primary_ip for n in nodes.values()])
    transport = HttpsTransport(cert_file, port=port)
    rpc = RpcClient(nodes.get, transport)
    try:
        for node in nodes.values():
            os.makedirs(node.paths.data_dir)
            shutil.copy(cert_file, node.paths.noded_cert_file)
            search_entry = node.paths.os_search_path[0]
            os.makedirs(search_entry)
            shutil.copytree(EXAMPLE_OS, os.path.join(search_entry,
                                                     "ganeti-demo-os"))
            node.proc = start_noded(node, port)
        for node in nodes.values():
            proc = node.proc
            assert proc is not None
            wait_for(lambda n=node, p=proc: accepts(n.primary_ip, port)  # type: ignore[misc]
                     or p.poll() is not None, f"{node.name} to listen")
            assert proc.poll() is None, (node.root / "noded.out").read_text()
        yield rpc, nodes
    finally:
        rpc.close()
        for node in nodes.values():
            if node.proc is not None:
                stop(node.proc)


def ok(rpc: RpcClient, call: str, node: str, *args: Any) -> Any:
    return rpc.call(call, [node], *args)[node].raise_on_fail()


def test_create_install_start_migrate_stop(
        nodes: tuple[RpcClient, dict[str, Node]]) -> None:
    rpc, cluster = nodes
    disk = objects.Disk(dev_type=constants.LD_FILE, size=16,
                        logical_id=[constants.FD_LOOP, f"{SDIR}/{INST}/disk0"],
                        iv_name="disk/0")
    inst = objects.Instance(
        name=INST, primary_node="node1", os="ganeti-demo-os+minimal",
        hypervisor=constants.HT_FAKE, disk_template=constants.DT_FILE,
        disks=[disk], nics=[objects.NIC(mac="aa:00:00:00:00:01")])
    hvparams = params.hv_defaults(constants.HT_FAKE)
    beparams = params.be_defaults()
    nicparams = [params.nic_defaults()]

    for name in ("node1", "node2"):
        ok(rpc, "file_storage_dir_create", name, f"{SDIR}/{INST}")
        path = ok(rpc, "blockdev_create", name, disk.to_dict(), 16, INST, True)
        assert path == cluster[name].paths.under(f"{SDIR}/{INST}/disk0")

    diagnosis = ok(rpc, "os_diagnose", "node1")
    assert [(d["name"], d["valid"]) for d in diagnosis] == [
        ("ganeti-demo-os", True)]
    assert ok(rpc, "os_validate", "node1", True, inst.os, ["parameters"],
              {"hostname_prefix": "web"}) is True
    added = ok(rpc, "instance_os_add", "node1", inst.to_dict(), False, 0,
               hvparams, beparams, nicparams, {"hostname_prefix": "web"})
    assert added["variant"] == "minimal"
    assert added["log_path"].startswith(cluster["node1"].paths.os_log_dir)
    with open(cluster["node1"].paths.under(f"{SDIR}/{INST}/disk0"),
              "rb") as handle:
        assert handle.read(17) == b"GANETI-DEMO-OS 1\n"

    status = ok(rpc, "blockdev_getmirrorstatus", "node1", [disk.to_dict()])
    assert SyncStatus.from_dict(status[0]).is_degraded is False

    ok(rpc, "instance_start", "node1", inst.to_dict(), hvparams, beparams,
       nicparams)
    listed = rpc.call_instance_list(["node1", "node2"], ["fake"])
    assert {n: r.raise_on_fail() for n, r in listed.items()} == {
        "node1": [INST], "node2": []}
    info = InstanceInfo.from_dict(ok(rpc, "instance_info", "node1", INST,
                                     "fake"))
    assert info.memory == beparams["maxmem"]

    ok(rpc, "instance_migratable", "node1", inst.to_dict())
    blob = ok(rpc, "migration_info", "node1", inst.to_dict())
    ok(rpc, "accept_instance", "node2", inst.to_dict(), blob, "127.0.0.2")
    ok(rpc, "instance_migrate", "node1", inst.to_dict(), "127.0.0.2", True)
    progress = MigrationStatus.from_dict(
        ok(rpc, "instance_get_migration_status", "node1", inst.to_dict()))
    assert progress.status == "completed"
    ok(rpc, "finalize_migration", "node2", inst.to_dict(), blob, True)
    ok(rpc, "finalize_migration_source", "node1", inst.to_dict(), True)
    listed = rpc.call_instance_list(["node1", "node2"], ["fake"])
    assert {n: r.raise_on_fail() for n, r in listed.items()} == {
        "node1": [], "node2": [INST]}

    assert ok(rpc, "instance_shutdown", "node2", inst.to_dict(), 10) == "soft"
    assert ok(rpc, "instance_list", "node2", ["fake"]) == []
    for name in ("node1", "node2"):
        ok(rpc, "blockdev_shutdown", name, disk.to_dict())
        ok(rpc, "blockdev_remove", name, disk.to_dict())
        ok(rpc, "file_storage_dir_remove", name, f"{SDIR}/{INST}")


def test_failures_are_one_line_and_the_daemon_lives_on(
        nodes: tuple[RpcClient, dict[str, Node]]) -> None:
    rpc, cluster = nodes
    failed = rpc.call_instance_start(["node1"], {"name": "x"}, {}, {}, [])
    assert failed["node1"].fail_msg == (
        "Invalid instance: Instance: missing required field 'primary_node'")
    failed = rpc.call_blockdev_find(["node1"], {"dev_type": "tape", "size": 1})
    assert failed["node1"].fail_msg is not None
    assert failed["node1"].fail_msg.startswith("Invalid disk: Disk.dev_type:")
    inst = objects.Instance(
        name=INST, primary_node="node1", os="ganeti-demo-os",
        hypervisor=constants.HT_FAKE, disk_template=constants.DT_DISKLESS)
    failed = rpc.call_instance_os_add(["node1"], inst.to_dict(), False, 0,
                                      {}, {}, [], {})
    # The demo OS needs a disk: the failure names the log and its tail.
    message = failed["node1"].fail_msg
    assert message is not None and "\n" not in message
    assert message.startswith("OS create script of 'ganeti-demo-os' failed")
    assert cluster["node1"].paths.os_log_dir in message
    assert ("; last line of output: create: error:"
            " DISK_0_PATH is not set (not run by Ganeti?)") in message
    assert ok(rpc, "version", "node1") == constants.PROTOCOL_VERSION
