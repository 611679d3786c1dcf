"""``gnt-cluster modify`` and cluster tags: validation, pool size, CLI."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_node_query import N2, N3, N4, Master
from testkit import make_unbuilt

from ganeti import cli, errors, opcodes, uidpool
from ganeti.client import cluster_modify, collect_commands


@pytest.fixture
def master(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Master]:
    m = Master(tmp_path, nodes=4, pool=2, instances=0)
    monkeypatch.setattr(cli, "submit_opcode",
                        lambda op, cl=None, feedback_fn=None, opts=None:
                        m.run(op))
    yield m
    m.close()


def modify(master: Master, **kwargs: Any) -> Any:
    return master.run(opcodes.OpClusterSetParams(**kwargs))


def gnt_cluster(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.GenericMain(collect_commands("cluster_"),
                           ["gnt-cluster", *argv], stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"hvparams": {"fake": {"nosuch": "1"}}},
     "Unknown hypervisor parameter 'nosuch' for hypervisor 'fake'"),
    ({"hvparams": {"fake": {"root_path": "/x"}}}, "belongs to hypervisor"),
    ({"beparams": {"memry": 1}}, "Unknown backend parameter 'memry'"),
    ({"beparams": {"memory": "lots"}}, "beparams: parameter 'memory'"),
    ({"nicparams": {"bridge": "br0"}}, "Unknown NIC parameter 'bridge'"),
    ({"nicparams": {"mode": "bridged", "link": ""}}, "requires a link"),
    ({"diskparams": {"plain": {"resync_rate": 1}}},
     "Unknown disk parameter 'resync_rate' for disk template 'plain'"),
    ({"diskparams": {"plain": {"stripe_size": 3}}}, "power of two"),
    ({"os_hvp": {"debian": {"fake": {"migration_port": 1}}}},
     "is global: it can be set only cluster-wide"),
    ({"enabled_hypervisors": ["xen-pvm"]}, "not available in this build"),
    ({"remove_uids": [[5, 6]]}, "not in the uid pool"),
    ({"uid_pool": [[500, 1500]]}, "outside 1000-"),
    ({"osparams": {"debian": {"x": "a b;"}}}, "osparams 'debian'"),
    ({"ndparams": {"spindle_count": "x"}}, "ndparams: parameter 'spindle_count'"),
    ({"beparams": {"maxmem": 128, "minmem": 256}},
     r"minmem \(256\) must not be greater than maxmem \(128\)"),
])
def test_refusals_change_nothing(master: Master, kwargs: dict[str, Any],
                                 match: str, monkeypatch: Any) -> None:
    make_unbuilt(monkeypatch, "xen-pvm")
    before = master.cfg.get_cluster().to_dict()
    with pytest.raises(errors.OpPrereqError, match=match):
        modify(master, **kwargs)
    assert master.cfg.get_cluster().to_dict() == before


def test_cluster_node_parameters(master: Master) -> None:
    modify(master, ndparams={"exclusive_storage": "yes", "ssh_port": "2022"})
    cluster = master.cfg.get_cluster()
    assert cluster.ndparams["exclusive_storage"] is True
    assert cluster.fill_nd()["ssh_port"] == 2022
    modify(master, ndparams={"ssh_port": "default"})
    assert master.cfg.get_cluster().fill_nd()["ssh_port"] == 22


def test_parameter_changes_and_default_removal(master: Master) -> None:
    modify(master, hvparams={"fake": {"kernel_path": "/boot/k",
                                      "migration_port": "9000"}},
           beparams={"memory": "1G", "vcpus": 2},
           nicparams={"link": "br9"},
           diskparams={"drbd": {"resync_rate": 1000}},
           os_hvp={"debian": {"fake": {"kernel_args": "quiet"}}})
    cluster = master.cfg.get_cluster()
    assert cluster.hvparams["fake"]["kernel_path"] == "/boot/k"
    assert cluster.hvparams["fake"]["migration_port"] == 9000
    default = cluster.beparams["default"]
    assert default["maxmem"] == default["minmem"] == 1024
    assert cluster.nicparams["default"]["link"] == "br9"
    assert cluster.diskparams["drbd"]["resync_rate"] == 1000
    assert cluster.os_hvp == {"debian": {"fake": {"kernel_args": "quiet"}}}
    modify(master, beparams={"memory": "default"},
           os_hvp={"debian": {"fake": {"kernel_args": "default"}}})
    cluster = master.cfg.get_cluster()
    assert not {"maxmem", "minmem"} & set(cluster.beparams["default"])
    assert cluster.fill_be()["maxmem"] == 128
    assert cluster.os_hvp == {}


def test_pool_size_growth_promotes(master: Master) -> None:
    assert [n.name for n in master.cfg.get_master_candidates()] == [
        "node1.example.com", N2]
    modify(master, candidate_pool_size=3)
    assert master.cfg.get_cluster().candidate_pool_size == 3
    assert [n.name for n in master.cfg.get_master_candidates()][-1] == N3
    modify(master, candidate_pool_size=1)  # shrinking demotes nobody
    assert len(master.cfg.get_master_candidates()) == 3
    assert not master.cfg.get_node(N4).master_candidate  # type: ignore[union-attr]


def test_cli_empty_uid_pool_clears_it() -> None:
    opts = cli.parse_args("gnt-cluster", cluster_modify.COMMANDS,
                          ["modify", "--uid-pool", ""])[1]
    op = cluster_modify.build_opcode(opts)
    assert op is not None and op.uid_pool == []


def test_uid_pool_refuses_existing_users(master: Master,
                                         monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    monkeypatch.setattr(uidpool, "system_users",
                        lambda: {65534: "nobody", 0: "root"})
    before = master.cfg.get_cluster().uid_pool
    for key in ("uid_pool", "add_uids"):
        with pytest.raises(errors.OpPrereqError,
                           match=r"overlaps existing users of this node:"
                                 r" nobody \(65534\)"):
            modify(master, **{key: [[65000, 66000]]})
    assert master.cfg.get_cluster().uid_pool == before


def test_uid_pool_and_lists(master: Master) -> None:
    modify(master, uid_pool=[[72000, 72100], [71000, 71000]])
    modify(master, add_uids=[[73000, 73010], [71000, 71000]])
    modify(master, remove_uids=[[72000, 72100]])
    assert master.cfg.get_cluster().uid_pool == [[71000, 71000],
                                                 [73000, 73010]]
    modify(master, hidden_os=[["add", "lenny"], ["add", "etch"]],
           blacklisted_os=[["remove", "none"]],
           maintain_node_health=True)
    modify(master, hidden_os=[["remove", "etch"], ["add", "lenny"]])
    cluster = master.cfg.get_cluster()
    assert cluster.hidden_os == ["lenny"]
    assert cluster.maintain_node_health is True
    assert any("already in hidden OS list" in m for m in master.feedback)
    modify(master, redist_files=[["add", "/etc/a", "candidates"],
                                 ["add", "/etc/b"]])
    modify(master, redist_files=[["remove", "/etc/b"], ["add", "/etc/a"]])
    assert [f.to_dict() for f in master.cfg.get_cluster().redist_files] == [
        {"path": "/etc/a", "target": "all"}]


def test_enable_hypervisor_fills_defaults(master: Master) -> None:
    cluster = master.cfg.get_cluster()
    cluster.hvparams.pop("fake", None)
    cluster.enabled_hypervisors = ["fake"]
    master.cfg.update(cluster)
    modify(master, enabled_hypervisors=["fake"])
    assert master.cfg.get_cluster().hvparams["fake"]["migration_port"] == 8102


def test_disable_lvm_with_lvm_instances(tmp_path: Path) -> None:
    m = Master(tmp_path, nodes=2, pool=2, instances=1)
    try:
        with pytest.raises(errors.OpPrereqError, match="lvm-based"):
            m.run(opcodes.OpClusterSetParams(vg_name=""))
        with pytest.raises(errors.OpPrereqError, match="Error on node"):
            m.run(opcodes.OpClusterSetParams(vg_name="othervg"))
    finally:
        m.close()


# --- The command -----------------------------------------------------------------

def test_cli_builds_the_opcode() -> None:
    parser_opts = cli.parse_args(
        "gnt-cluster", cluster_modify.COMMANDS,
        ["modify", "-H", "fake:kernel_path=/k,-kernel_args", "-B", "memory=1G",
         "-N", "link=br0", "-D", "drbd:resync_rate=10", "-C", "5",
         "--uid-pool", "71000-71010,71020", "--maintain-node-health", "no",
         "--add-redist-file", "/etc/x:candidates",
         "--add-redist-file", "/etc/y", "--remove-redist-file", "/etc/z",
         "--enabled-hypervisors", "fake",
         "--node-parameters", "spindle_count=2,exclusive_storage=yes"])[1]
    op = cluster_modify.build_opcode(parser_opts)
    assert op is not None
    assert op.ndparams == {"spindle_count": "2", "exclusive_storage": "yes"}
    assert op.hvparams == {"fake": {"kernel_path": "/k",
                                    "kernel_args": "default"}}
    assert op.beparams == {"memory": "1G"}
    assert op.diskparams == {"drbd": {"resync_rate": "10"}}
    assert op.candidate_pool_size == 5
    assert op.uid_pool == [[71000, 71010], [71020, 71020]]
    assert op.maintain_node_health is False
    assert op.redist_files == [["add", "/etc/x", "candidates"],
                               ["add", "/etc/y"], ["remove", "/etc/z"]]
    assert op.enabled_hypervisors == ["fake"]


@pytest.mark.parametrize("option", ["--uid-pool", "--add-uids",
                                    "--remove-uids"])
def test_cli_refuses_bad_uid_specs(option: str) -> None:
    opts = cli.parse_args("gnt-cluster", cluster_modify.COMMANDS,
                          ["modify", option, "9000-8000"])[1]
    with pytest.raises(errors.OpPrereqError, match=f"in {option}: the lower"):
        cluster_modify.build_opcode(opts)


def test_cli_modify_and_errors(master: Master) -> None:
    assert gnt_cluster("modify", "-B", "vcpus=3")[0] == 0
    assert master.cfg.get_cluster().beparams["default"]["vcpus"] == 3
    code, _, err = gnt_cluster("modify")
    assert code == 1 and "at least one" in err
    code, _, err = gnt_cluster("modify", "-B", "vcpu=3")
    assert code == 1 and "vcpu" in err
    code, _, err = gnt_cluster("modify", "-C", "0")
    assert code == 1 and "candidate_pool_size" in err
    code, _, _ = gnt_cluster("modify", "-C", "x")
    assert code == errors.EXIT_USAGE
    code, _, err = gnt_cluster("modify", "-g", "vg", "--no-lvm-storage")
    assert code == 1 and "Cannot disable" in err


def test_cli_tags(master: Master, tmp_path: Path) -> None:
    (tmp_path / "t").write_text("c\n")
    assert gnt_cluster("add-tags", "--from", str(tmp_path / "t"), "a",
                       "b")[0] == 0
    code, out, _ = gnt_cluster("list-tags")
    assert out.split() == ["a", "b", "c"]
    master.run(opcodes.OpTagsSet(kind="node", name=N2, tags=["b2"]))
    code, out, _ = gnt_cluster("search-tags", "^b")
    assert (code, out.splitlines()) == (0, ["/cluster b", f"/nodes/{N2} b2"])
    assert gnt_cluster("search-tags", "^zz")[0] == 1
    assert gnt_cluster("remove-tags", "a", "c")[0] == 0
    assert gnt_cluster("list-tags")[1].split() == ["b"]
    code, _, err = gnt_cluster("add-tags", "bad tag")
    assert code == 1 and "tag" in err
