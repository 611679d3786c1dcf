"""gnt-instance add/batch-create/reinstall option parsing (no master)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from ganeti import cli, constants, errors
from ganeti.client import collect_commands
from ganeti.client import instance_create as ic


def test_disks() -> None:
    assert ic.parse_disks("file", [("0", {"size": "1G"}),
                                   ("1", {"size": "512", "mode": "ro",
                                          "driver": "blktap"})], None) == [
        {"size": 1024},
        {"size": 512, "mode": "ro", "params": {"driver": "blktap"}}]
    assert ic.parse_disks("file", [], "2g") == [{"size": 2048}]
    assert ic.parse_disks("diskless", [], None) == []
    for args, message in [
            (("file", [], None), "No disk information"),
            (("file", [("0", {"size": "1"})], "1"), "either --disk or -s"),
            (("file", [("1", {"size": "1"})], None), "without gaps"),
            (("file", [("0", {"mode": "rw"})], None), "missing size"),
            (("file", [("0", {"size": "x"})], None), "invalid size 'x'"),
            (("file", [("0", {"size": "1", "mode": "rx"})], None),
             "invalid access mode"),
            (("diskless", [], "1"), "take no disks")]:
        with pytest.raises(errors.OpPrereqError, match=message):
            ic.parse_disks(*args)


def test_nics() -> None:
    assert ic.parse_nics([], False) == [{}]
    assert ic.parse_nics([], True) == []
    assert ic.parse_nics([("0", {"mode": "routed", "ip": "none"})],
                         False) == [{"mode": "routed", "ip": None}]
    with pytest.raises(errors.OpPrereqError,
                       match="NIC 0: unknown NIC parameter 'speed'"):
        ic.parse_nics([("0", {"speed": "10"})], False)
    with pytest.raises(errors.OpPrereqError, match="--net or --no-nics"):
        ic.parse_nics([("0", {})], True)


def test_disk_and_nic_names_and_spindles() -> None:
    assert ic.parse_disks("plain", [("0", {"size": "1G", "name": "root",
                                           "spindles": "2"})], None) == [
        {"size": 1024, "name": "root", "spindles": 2}]
    with pytest.raises(errors.OpPrereqError,
                       match="Disk 0: spindles must be a positive integer,"
                             " got 'many'"):
        ic.parse_disks("plain", [("0", {"size": "1", "spindles": "many"})],
                       None)
    assert ic.parse_nics([("0", {"name": "public"})], False) == [
        {"name": "public"}]


def test_hypervisor_option() -> None:
    assert ic.parse_hv("kvm:acpi=no,kernel_path=", None) == (
        "kvm", {"acpi": "no", "kernel_path": ""})
    assert ic.parse_hv("kernel_path=/k", "fake") == ("fake",
                                                     {"kernel_path": "/k"})
    assert ic.parse_hv("fake", None) == ("fake", {})
    assert ic.parse_hv("fake:-kernel_path", None) == (
        "fake", {"kernel_path": constants.VALUE_DEFAULT})
    with pytest.raises(errors.OpPrereqError, match="Unknown hypervisor"):
        ic.parse_hv("vmware:x=1", None)
    with pytest.raises(errors.OpPrereqError, match="but --hypervisor"):
        ic.parse_hv("kvm:x=1", "fake")


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cli.GenericMain(collect_commands("instance_"),
                           ["gnt-instance", *argv], stdout=out, stderr=out)
    return code, out.getvalue()


def test_add_builds_the_opcode(monkeypatch: Any) -> None:
    sent: list[Any] = []
    monkeypatch.setattr(cli, "submit_opcode",
                        lambda op, opts=None: sent.append(op) or [])
    code, out = run_cli("add", "-t", "file", "--disk", "0:size=2G",
                        "-o", "deb+v1", "-O", "a=1,-b", "-B", "memory=512M",
                        "-H", "fake:kernel_path=/k", "--no-name-check",
                        "--no-install", "-n", "node1",
                        "--net", "0:mode=routed,ip=192.0.2.1", "i1")
    assert code == 0, out
    (op,) = sent
    assert (op.instance_name, op.disk_template, op.pnode) == ("i1", "file",
                                                              "node1")
    assert op.disks == [{"size": 2048}]
    assert op.osparams == {"a": "1", "b": "default"}
    assert op.hypervisor == "fake"
    assert op.hvparams == {"kernel_path": "/k"}
    assert op.no_install and not op.start and not op.ip_check
    code, out = run_cli("add", "-t", "file", "-s", "1", "-o", "deb",
                        "-n", "n", "--net", "0:foo=1", "i1")
    assert code == 1 and "unknown NIC parameter 'foo'" in out
    code, out = run_cli("add", "-s", "1", "-o", "deb", "-n", "n", "i1")
    assert code == 1 and "No disk template given" in out


def test_batch_specification(tmp_path: Path) -> None:
    op = ic.batch_opcode("i1.example.com", {
        "template": "file", "os": "deb", "disk_size": ["1G", "512"],
        "primary_node": "node1", "backend": {"memory": 256},
        "hypervisor": ["fake", {"kernel_path": "/k"}], "ip": "192.0.2.3",
        "mode": "routed", "start": False, "name_check": False,
        "ip_check": False}, 0)
    assert op.disks == [{"size": 1024}, {"size": 512}]
    assert op.nics == [{"ip": "192.0.2.3", "mode": "routed"}]
    assert (op.hypervisor, op.hvparams) == ("fake", {"kernel_path": "/k"})
    assert not op.start and op.beparams == {"memory": 256}
    with pytest.raises(errors.OpPrereqError, match="unknown key 'disk'"):
        ic.batch_opcode("i1", {"template": "file", "disk": []}, 0)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([1]))
    code, out = run_cli("batch-create", str(path))
    assert code == 1 and "must hold an object" in out


def test_remove_asks(monkeypatch: Any) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    monkeypatch.setattr(cli, "submit_opcode", lambda *a, **k: pytest.fail())
    code, out = run_cli("remove", "i1")
    assert code == 1 and "Continue?" in out
