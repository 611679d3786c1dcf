"""Node health maintenance (``maintain_node_health``): only on a node
that confd says is offline, with the cluster asking for it; then every
instance of the node's hypervisors is stopped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ganeti import constants, objects, pathutils
from ganeti.confd.protocol import NodeRole
from ganeti.hypervisor import fake
from ganeti.watcher import health


class Store:
    def __init__(self, maintain: bool) -> None:
        self.maintain = maintain

    def get_maintain_node_health(self) -> bool:
        return self.maintain

    def get_hypervisor_list(self) -> list[str]:
        return [constants.HT_FAKE]


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("FAKE_HV_MEMORY_MIB", "4096")
    pathutils.set_root(str(tmp_path))
    hv = fake.FakeHypervisor()
    for name in ("a.example.com", "b.example.com"):
        hv.start_instance(objects.Instance(
            name=name, primary_node="n2", hypervisor=constants.HT_FAKE,
            disk_template=constants.DT_DISKLESS), [], {},
            {"maxmem": 64, "vcpus": 1}, [])
    yield hv
    pathutils.set_root(None)


def _roles(monkeypatch: pytest.MonkeyPatch, role: NodeRole | None
           ) -> list[str]:
    asked: list[str] = []

    def node_role(name: str) -> NodeRole | None:
        asked.append(name)
        return role
    monkeypatch.setattr(health, "node_role", node_role)
    return asked


def test_an_offline_node_stops_its_instances(
        node: fake.FakeHypervisor, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _roles(monkeypatch, NodeRole.OFFLINE)
    done = health.maintain(Store(True), master=False)  # type: ignore[arg-type]
    assert done == ["stopped instance a.example.com",
                    "stopped instance b.example.com"]
    assert node.list_instances() == []
    assert asked == [pathutils.hostname()]


@pytest.mark.parametrize("role", [NodeRole.REGULAR, NodeRole.DRAINED,
                                  NodeRole.CANDIDATE, None])
def test_other_roles_and_no_answer_change_nothing(
        node: fake.FakeHypervisor, monkeypatch: pytest.MonkeyPatch,
        role: NodeRole | None) -> None:
    _roles(monkeypatch, role)
    assert health.maintain(Store(True), master=False) == []  # type: ignore[arg-type]
    assert len(node.list_instances()) == 2


def test_not_asked_for_or_on_the_master_confd_is_not_asked(
        node: fake.FakeHypervisor, monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _roles(monkeypatch, NodeRole.OFFLINE)
    assert health.maintain(Store(False), master=False) == []  # type: ignore[arg-type]
    assert health.maintain(Store(True), master=True) == []  # type: ignore[arg-type]
    assert asked == []
    assert len(node.list_instances()) == 2


def test_no_confd_is_an_unknown_role(tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """No candidates known (no ssconf): logged, None, nothing done."""
    pathutils.set_root(str(tmp_path))
    try:
        assert health.node_role("n2") is None
    finally:
        pathutils.set_root(None)


def test_every_drbd_device_is_shut_down(
        node: fake.FakeHypervisor, monkeypatch: pytest.MonkeyPatch) -> None:
    from ganeti.storage.drbd import commands

    ran: list[list[str]] = []

    class Runner:
        def states(self) -> dict[int, object]:
            return {3: object(), 0: object()}

        def commands(self) -> commands.Commands:
            return commands.for_version(8)

        def run(self, argv: list[str]) -> str:
            ran.append(argv)
            return ""

    monkeypatch.setattr(health.drbd, "node_runner", Runner)
    _roles(monkeypatch, NodeRole.OFFLINE)
    done = health.maintain(Store(True), master=False)  # type: ignore[arg-type]
    assert done[-2:] == ["shut down DRBD minor 0", "shut down DRBD minor 3"]
    assert ran == [[commands.DRBDSETUP, "down", "resource0"],
                   [commands.DRBDSETUP, "down", "resource3"]]
