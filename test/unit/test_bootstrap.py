"""Cluster init validation, voting arithmetic, the init/failover CLI edge."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from config_builders import make_config, write_config

from ganeti import bootstrap, cli, config, constants, errors, pathutils, uidpool
from ganeti.backend import lifecycle
from ganeti.client import cluster_init
from ganeti.rpc.result import RpcResult


def params(**kwargs: Any) -> bootstrap.InitParams:
    values: dict[str, Any] = {
        "cluster_name": "cluster.local-cluster.example",
        "master_name": "node1.local-cluster.example",
        "primary_ip": "127.0.0.1", "master_ip": "127.0.0.254",
        "vg_name": None}
    values.update(kwargs)
    return bootstrap.InitParams(**values)


def test_valid_parameters_give_cluster_and_master() -> None:
    cluster, node = bootstrap.validate(params(
        hvparams={"fake": {"kernel_args": "ro"}}, beparams={"memory": "256"},
        nicparams={"mode": "routed"},
        diskparams={"drbd": {"resync_rate": "1000"}},
        enabled_hypervisors=["fake", "kvm"], candidate_pool_size=3,
        default_iallocator="hail"))
    assert cluster.master_node == node.name == "node1.local-cluster.example"
    assert cluster.master_ip == "127.0.0.254"
    assert node.primary_ip == node.secondary_ip == "127.0.0.1"
    assert cluster.beparams["default"]["maxmem"] == 256
    assert cluster.diskparams["drbd"]["resync_rate"] == 1000
    assert cluster.enabled_hypervisors == ["fake", "kvm"]
    assert cluster.volume_group_name is None
    assert cluster.default_iallocator == "hail"


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"hvparams": {"fake": {"bogus": "1"}}}, "bogus"),
    ({"hvparams": {"nohv": {}}}, "Unknown hypervisor 'nohv' in -H"),
    ({"beparams": {"memroy": "1"}}, "memroy"),
    ({"beparams": {"memory": "lots"}}, "memory"),
    ({"nicparams": {"mode": "tunnel"}}, "mode"),
    ({"nicparams": {"bridge": "br0"}}, "bridge"),
    ({"diskparams": {"drbd": {"stripes": 2}}}, "stripes"),
    ({"diskparams": {"tape": {}}}, "Unknown disk template 'tape' in -D"),
    ({"enabled_hypervisors": ["xen-xyz"]}, "xen-xyz"),
    ({"enabled_hypervisors": []}, "No hypervisor"),
    ({"cluster_name": "bad name"}, "Invalid cluster name"),
    ({"master_ip": "300.1.1.1"}, "--master-ip"),
    ({"primary_ip": "x"}, "--primary-ip"),
    ({"secondary_ip": "1.2.3"}, "secondary"),
    ({"mac_prefix": "zz:00:00"}, "MAC prefix"),
    ({"candidate_pool_size": 0}, "pool size"),
    ({"file_storage_dir": "relative/dir"}, "absolute"),
    ({"master_netdev": "eth 0"}, "network device"),
    ({"default_iallocator": "../hail"}, "--default-iallocator"),
])
def test_bad_parameters_rejected(kwargs: dict[str, Any], pattern: str) -> None:
    with pytest.raises(errors.OpPrereqError, match=pattern):
        bootstrap.validate(params(**kwargs))


def test_unresolvable_names_say_which_option() -> None:
    with pytest.raises(errors.ResolverError, match="--master-ip"):
        bootstrap.validate(params(cluster_name="c.invalid", master_ip=None))
    with pytest.raises(errors.ResolverError, match="--primary-ip"):
        bootstrap.validate(params(master_name="n.invalid", primary_ip=None))


def test_missing_volume_group_is_clear() -> None:
    with pytest.raises(errors.OpPrereqError, match="no-lvm-storage"):
        bootstrap.validate(params(vg_name="no-such-vg-here"))


def _ok(master: str) -> RpcResult:
    return RpcResult("n", "master_info", payload=["c", master, "ip", ""])


def test_count_and_check_votes() -> None:
    answers = {"n2": _ok("n1"), "n3": _ok("n1"),
               "n4": RpcResult("n4", "master_info", fail_msg="down")}
    votes = bootstrap.count_votes(answers)
    assert votes == {"n1": 2, None: 1}
    with pytest.raises(errors.OpPrereqError, match="2 of 4"):
        bootstrap.check_votes("n1", votes, 4)  # half is not a majority


def test_majority_rules() -> None:
    bootstrap.check_votes("n1", {"n1": 2, None: 1}, 3)
    with pytest.raises(errors.OpPrereqError, match="1 of 3") as info:
        bootstrap.check_votes("n1", {"n1": 1, "n9": 1, None: 1}, 3)
    assert "n9 (1)" in str(info.value)
    assert "did not answer" in str(info.value)
    with pytest.raises(errors.OpPrereqError, match="--no-voting"):
        bootstrap.check_votes("n1", {"n1": 2, None: 2}, 4)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(pathutils.HOSTNAME_ENV, "node1.local-cluster.example")
    saved = pathutils.get()
    pathutils.set_root(str(tmp_path))
    yield tmp_path
    pathutils.set_root(saved.root)


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.GenericMain(cluster_init.COMMANDS, ["gnt-cluster", *argv],
                           stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


BASE = ("--no-lvm-storage", "--primary-ip", "127.0.0.1", "--master-ip",
        "127.0.0.254")


@pytest.mark.parametrize(("option", "needle"), [
    (("-H", "fake:nope=1"), "nope"),
    (("-B", "vcpu=2"), "vcpu"),
    (("-N", "link2=br0"), "link2"),
    (("-D", "plain:stripez=2"), "stripez"),
    (("-H", "qemu:acpi=1"), "Unknown hypervisor 'qemu'"),
])
def test_init_cli_rejects_bad_names_without_side_effects(
        root: Path, option: tuple[str, str], needle: str) -> None:
    code, _out, err = run("init", *BASE, *option, "cluster.example")
    assert code == errors.EXIT_FAILURE
    assert needle in err
    assert not (root / "var").exists()


def test_init_cli_option_conflicts(root: Path) -> None:
    code, _out, err = run("init", "--no-lvm-storage", "-g", "vg",
                          "cluster.example")
    assert code == errors.EXIT_FAILURE
    assert "incompatible" in err
    code, _out, err = run("init")
    assert code == errors.EXIT_FAILURE
    code, _out, err = run("init", "--uid-pool", "9-1", *BASE, "c.example")
    assert code == errors.EXIT_FAILURE and "--uid-pool" in err


def test_init_refuses_a_uid_pool_of_existing_users(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(uidpool, "system_users", lambda: {70050: "alice"})
    code, _out, err = run("init", "--uid-pool", "70000-70099", *BASE,
                          "c.example")
    assert code == errors.EXIT_FAILURE
    assert ("User-id range 70000-70099 in --uid-pool overlaps existing users"
            " of this node: alice (70050)") in err
    assert not (root / "var").exists()


def test_init_refuses_existing_cluster(root: Path) -> None:
    paths = pathutils.get()
    Path(paths.data_dir).mkdir(parents=True)
    Path(paths.cluster_conf_file).write_text("{}")
    code, _out, err = run("init", *BASE, "cluster.example")
    assert code == errors.EXIT_FAILURE
    assert "already initialised" in err


def test_destroy_needs_yes_do_it(root: Path) -> None:
    code, _out, err = run("destroy")
    assert code == errors.EXIT_FAILURE
    assert "--yes-do-it" in err


def test_failover_checks_before_contacting_anyone(root: Path) -> None:
    code, _out, err = run("master-failover")
    assert code == errors.EXIT_NOTCLUSTER
    assert "ssconf_master_node" in err
    from ganeti import ssconf

    ssconf.write_files({"master_node": "node1.local-cluster.example",
                        "master_candidates": "node1.local-cluster.example"})
    code, _out, err = run("masterfailover")
    assert code == errors.EXIT_FAILURE and "already the master" in err
    ssconf.write_files({"master_node": "node9.local-cluster.example",
                        "master_candidates": "node9.local-cluster.example"})
    code, _out, err = run("master-failover")
    assert code == errors.EXIT_FAILURE and "not a master candidate" in err
    code, _out, err = run("master-failover", "--no-voting")
    assert code == errors.EXIT_CONFIRMATION


def test_default_hypervisor_is_fake() -> None:
    assert params().enabled_hypervisors == [constants.HT_FAKE]


class FetchRpc:
    """``config_fetch`` answered from given files (None: unreachable)."""

    def __init__(self, copies: dict[str, Path | None]) -> None:
        self.copies = copies

    def call_config_fetch(self, nodes: list[str], known: int
                          ) -> dict[str, RpcResult]:
        answers = {}
        for node in nodes:
            copy = self.copies[node]
            if copy is None:
                answers[node] = RpcResult(node, "config_fetch",
                                          fail_msg="connection refused")
                continue
            pathutils.set_root(str(copy))
            try:
                answers[node] = RpcResult(node, "config_fetch",
                                          payload=lifecycle.config_fetch(known))
            finally:
                pathutils.set_root(None)
        return answers


def _config_at(root: Path, serial: int, tag: str) -> Path:
    data = make_config(nodes=2)
    data.serial_no = serial
    data.cluster.tags = [tag]
    target = root / pathutils.Paths("").cluster_conf_file.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    write_config(target, data)
    return root


def test_failover_takes_the_newest_configuration(tmp_path: Path) -> None:
    """The node becoming the master adopts the newest copy among the
    candidates that answer (issue 18: failing back from a stale copy)."""
    mine = _config_at(tmp_path / "me", 5, "mine")
    rpc = FetchRpc({"n2": _config_at(tmp_path / "n2", 7, "n2"),
                    "n3": _config_at(tmp_path / "n3", 9, "n3"),
                    "n4": _config_at(tmp_path / "n4", 3, "old"),
                    "n5": None})
    said: list[str] = []
    path = str(mine / pathutils.Paths("").cluster_conf_file.lstrip("/"))
    serial = bootstrap.take_newest_config(
        rpc, ["n2", "n3", "n4", "n5"], path,  # type: ignore[arg-type]
        said.append)
    assert serial == 9
    data, _ = config.read_config(path)
    assert (data.serial_no, data.cluster.tags) == (9, ["n3"])
    assert said == ["Warning: cannot compare configurations with node n5:"
                    " connection refused",
                    "Taking the newer configuration of node n3 (serial 9;"
                    " this node had 5)"]
    # Already the newest: nothing changes.
    assert bootstrap.take_newest_config(
        rpc, ["n2", "n4"], path, said.append) == 9  # type: ignore[arg-type]
    assert config.read_config(path)[0].cluster.tags == ["n3"]
