"""The distributed file list, content encoding, distribution with a
stand-in RPC, and the replicators."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from config_builders import make_config, make_instance, node_name
from testkit import make_unbuilt

from ganeti import (
    constants,
    errors,
    hypervisor,
    objects,
    pathutils,
    redist,
    replication,
    ssconf,
)
from ganeti.cmdlib import cluster_verify
from ganeti.rpc.result import RpcResult

CONF = pathutils.Paths("")
VNC_DEFAULT = CONF.vnc_password_file


def kvm_config(**kwargs: Any) -> objects.ConfigData:
    data = make_config(nodes=3, enabled_hypervisors=[constants.HT_FAKE,
                                                     constants.HT_KVM],
                       **kwargs)
    data.cluster.upgrade_defaults()
    return data


def test_static_files_and_targets() -> None:
    files = dict(redist.compute_file_list(make_config(nodes=2)))
    assert files[CONF.cluster_conf_file] == "candidates"
    assert files[CONF.rapi_cert_file] == "candidates"
    assert files[CONF.rapi_users_file] == "candidates"
    assert files[CONF.confd_hmac_key] == "all"
    assert files[CONF.known_hosts_file] == "all"
    assert CONF.noded_cert_file not in files
    # Only the fake hypervisor: it declares no ancillary files.
    assert VNC_DEFAULT not in files


def test_vnc_files_from_cluster_os_and_instance_levels() -> None:
    data = kvm_config()
    data.cluster.hvparams[constants.HT_KVM]["vnc_password_file"] = "/etc/c"
    data.cluster.os_hvp["debian-image"] = {
        constants.HT_KVM: {"vnc_password_file": "/etc/os"}}
    data.cluster.os_hvp["other-os"] = {
        constants.HT_KVM: {"vnc_password_file": "/etc/os-unused"}}
    inst = make_instance(50, node_name(1), hypervisor=constants.HT_KVM,
                         os="centos",
                         hvparams={"vnc_password_file": "/etc/inst"})
    data.instances[inst.name] = inst
    inst2 = make_instance(51, node_name(2), hypervisor=constants.HT_KVM)
    data.instances[inst2.name] = inst2
    files = dict(redist.compute_file_list(data))
    # The cluster default, every per-OS value and the instance override.
    for path in ("/etc/c", "/etc/os", "/etc/os-unused", "/etc/inst"):
        assert files[path] == "all", path
    assert redist.hypervisor_files(data) == sorted(
        ["/etc/c", "/etc/os", "/etc/os-unused", "/etc/inst"])


def test_xen_hvm_defaults_count_without_the_driver(monkeypatch: Any) -> None:
    """A build without the xen-hvm driver: its parameter table is enough."""
    make_unbuilt(monkeypatch, constants.HT_XEN_HVM)
    with pytest.raises(errors.OpPrereqError):
        hypervisor.get_hypervisor_class(constants.HT_XEN_HVM)
    data = make_config(nodes=1)
    data.cluster.hvparams[constants.HT_XEN_HVM] = {}
    data.cluster.upgrade_defaults()
    assert dict(redist.compute_file_list(data))[VNC_DEFAULT] == "all"


def test_declared_ancillary_agrees_with_present_drivers() -> None:
    for name in hypervisor.HYPERVISORS:
        if hypervisor.is_available(name):
            cls = hypervisor.get_hypervisor_class(name)
            assert tuple(cls.ANCILLARY_FILE_PARAMETERS) == \
                redist.DECLARED_ANCILLARY.get(name, ()), name
    assert redist.ancillary_parameters("no-such-hv") == ()


def test_extra_files_with_targets_and_widest_target_wins() -> None:
    data = make_config(nodes=1)
    data.cluster.redist_files = [
        objects.RedistFile(path="/etc/extra-all", target="all"),
        objects.RedistFile(path="/etc/extra-mc", target="candidates"),
        objects.RedistFile(path=CONF.rapi_users_file, target="all")]
    files = dict(redist.compute_file_list(data))
    assert files["/etc/extra-all"] == "all"
    assert files["/etc/extra-mc"] == "candidates"
    assert files[CONF.rapi_users_file] == "all"
    value = redist.ssconf_redist_value(data)
    # The widened static file is listed too: a demoted node keeps it.
    assert value.splitlines() == ["/etc/extra-all all",
                                  "/etc/extra-mc candidates",
                                  f"{CONF.rapi_users_file} all"]


def test_ssconf_publishes_vnc_files_of_every_level() -> None:
    """Nodes accept by upload exactly what ssconf_redist_files lists
    beyond the static set: every VNC password file in use must be in it
    (the cluster default only when it is not the declared default)."""
    data = kvm_config()
    data.cluster.os_hvp["debian-image"] = {
        constants.HT_KVM: {"vnc_password_file": "/etc/ganeti/vnc-os"}}
    inst = make_instance(60, node_name(2), hypervisor=constants.HT_KVM,
                         hvparams={"vnc_password_file": "/etc/ganeti/vnc-x"})
    data.instances[inst.name] = inst
    data.cluster.redist_files = [
        objects.RedistFile(path="/etc/extra", target="candidates")]
    values = ssconf.compute_values(data)
    assert values[ssconf.SS_REDIST_FILES].splitlines() == [
        "/etc/extra candidates", "/etc/ganeti/vnc-os all",
        "/etc/ganeti/vnc-x all"]
    data.cluster.hvparams[constants.HT_KVM]["vnc_password_file"] = \
        "/etc/ganeti/vnc-cluster"
    assert "/etc/ganeti/vnc-cluster all" in ssconf.compute_values(
        data)[ssconf.SS_REDIST_FILES].splitlines()


@pytest.mark.parametrize("payload", [b"", b"text\n", bytes(range(256)),
                                     b"x" * 100000])
def test_encoding_round_trip(payload: bytes) -> None:
    encoded = redist.encode_data(payload)
    assert encoded[0] in (redist.ENC_PLAIN, redist.ENC_ZLIB)
    assert redist.decode_data(encoded) == payload


def test_bad_encodings_are_protocol_errors() -> None:
    with pytest.raises(errors.ProtocolError, match="Unknown file encoding"):
        redist.decode_data(["rot13", "x"])
    with pytest.raises(errors.ProtocolError, match="Invalid zlib"):
        redist.decode_data([redist.ENC_ZLIB, "not base64!"])


def test_ssconf_content_matches_the_writer(tmp_path: Path) -> None:
    values = ssconf.compute_values(make_config(nodes=2))
    paths = pathutils.Paths(str(tmp_path))
    ssconf.write_files(values, paths)
    for key, value in values.items():
        on_disk = Path(paths.ssconf_file(key)).read_bytes()
        assert on_disk == cluster_verify.ssconf_content(value), key


# --- distribute_files with a stand-in RPC ------------------------------------------

class FakeCfg:
    def __init__(self, data: objects.ConfigData) -> None:
        self.data = data

    def snapshot(self) -> objects.ConfigData:
        return self.data

    def get_serial_no(self) -> int:
        return self.data.serial_no

    def journal_since(self, serial: int) -> list[bytes] | None:
        return None  # always the whole files

    def node_names(self) -> list[str]:
        return sorted(self.data.nodes)

    def get_node(self, name: str) -> objects.Node | None:
        return self.data.nodes.get(name)

    def get_online_nodes(self) -> list[objects.Node]:
        return [n for n in self.data.nodes.values() if not n.offline]

    def get_master_candidates(self) -> list[objects.Node]:
        return [n for n in self.data.nodes.values() if n.master_candidate]


class RecordingRpc:
    def __init__(self, fail: dict[tuple[str, str], str] | None = None) -> None:
        self.calls: list[tuple[str, list[str], tuple[Any, ...]]] = []
        self.fail = fail or {}

    def call(self, name: str, nodes: list[str], *args: Any
             ) -> dict[str, RpcResult]:
        self.calls.append((name, list(nodes), args))
        key = args[0] if args and isinstance(args[0], str) else ""
        return {n: RpcResult(n, name, fail_msg=self.fail.get((n, key)))
                for n in nodes}

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("call_"):
            return lambda nodes, *args: self.call(attr[5:], nodes, *args)
        raise AttributeError(attr)


class Ctx:
    def __init__(self, cfg: FakeCfg, rpc: RecordingRpc, master: str) -> None:
        self.cfg, self.rpc, self.master = cfg, rpc, master


@pytest.fixture
def master_root(tmp_path: Path):  # type: ignore[no-untyped-def]
    paths = pathutils.set_root(str(tmp_path))
    os.makedirs(paths.data_dir)
    os.makedirs(os.path.dirname(paths.vnc_password_file))
    Path(paths.cluster_conf_file).write_text("{}")
    Path(paths.rapi_users_file).write_text("admin secret write\n")
    os.chmod(paths.rapi_users_file, 0o640)
    Path(paths.vnc_password_file).write_text("vncpw\n")
    yield paths
    pathutils.set_root(None)


def test_distribute_pushes_each_file_to_its_nodes(master_root: Any) -> None:
    data = kvm_config()
    data.nodes[node_name(3)].master_candidate = False
    data.nodes[node_name(4)] = data.nodes[node_name(3)].copy()
    data.nodes[node_name(4)].name = node_name(4)
    data.nodes[node_name(4)].offline = True
    rpc = RecordingRpc(fail={(node_name(3), VNC_DEFAULT): "disk full"})
    said: list[str] = []
    results = redist.distribute_files(Ctx(FakeCfg(data), rpc, node_name(1)),
                                      feedback=said.append)
    uploads = {args[0]: (nodes, args) for name, nodes, args in rpc.calls
               if name == "upload_file"}
    assert rpc.calls[0][0] == "write_ssconf_files"  # before the files
    assert rpc.calls[0][1] == [node_name(2), node_name(3)]
    assert uploads[CONF.cluster_conf_file][0] == [node_name(2)]
    assert uploads[CONF.rapi_users_file][0] == [node_name(2)]
    assert uploads[VNC_DEFAULT][0] == [node_name(2), node_name(3)]
    _, args = uploads[CONF.rapi_users_file]
    assert redist.decode_data(args[1]) == b"admin secret write\n"
    assert args[2] == 0o640
    # Missing on the master: reported, not fatal, not sent.
    assert CONF.rapi_cert_file not in uploads
    assert any("rapi.pem is missing on the master" in m for m in said)
    assert results[node_name(4)].skipped == "node is offline"
    assert node_name(1) not in results
    assert results[node_name(2)].ok
    assert results[node_name(3)].failed == [f"{VNC_DEFAULT}: disk full"]
    assert any(node_name(3) in m and "disk full" in m for m in said)
    assert not any(name.startswith("jobqueue") for name, _, _ in rpc.calls)


def test_known_hosts_missing_on_the_master_is_not_reported(
        master_root: Any) -> None:
    """A fresh cluster whose nodes joined without SSH has no known_hosts:
    redistribution says nothing about it (it used to warn every time);
    once ssh recorded a host key the file goes to every node."""
    data = kvm_config()
    rpc = RecordingRpc()
    said: list[str] = []
    redist.distribute_files(Ctx(FakeCfg(data), rpc, node_name(1)),
                            feedback=said.append)
    assert not any("known_hosts" in m for m in said), said
    assert any("rapi.pem is missing on the master" in m for m in said)

    Path(master_root.known_hosts_file).write_text("node2 ssh-ed25519 AAAA\n")
    rpc = RecordingRpc()
    redist.distribute_files(Ctx(FakeCfg(data), rpc, node_name(1)))
    uploads = {args[0]: nodes for name, nodes, args in rpc.calls
               if name == "upload_file"}
    assert uploads[CONF.known_hosts_file] == [node_name(2), node_name(3)]


def test_distribute_to_a_new_candidate_copies_the_queue(
        master_root: Any) -> None:
    os.makedirs(master_root.queue_dir)
    Path(master_root.queue_dir, "serial").write_text("7\n")
    Path(master_root.queue_dir, "job-7").write_text('{"id": 7}')
    Path(master_root.queue_dir, "lock").write_text("")
    data = kvm_config()
    rpc = RecordingRpc()
    redist.distribute_files(Ctx(FakeCfg(data), rpc, node_name(1)),
                            nodes=[node_name(2)], include_config=False)
    sent = [args[0] for name, _, args in rpc.calls if name == "upload_file"]
    assert CONF.cluster_conf_file not in sent
    queue = [(nodes, args[0]) for name, nodes, args in rpc.calls
             if name == "jobqueue_update"]
    assert queue == [([node_name(2)], "serial"), ([node_name(2)], "job-7")]


def test_queue_replicator_sends_serial_first_then_renames() -> None:
    data = make_config(nodes=3)
    rpc = RecordingRpc()
    rep = replication.QueueReplicator(FakeCfg(data), rpc, node_name(1))
    rep.on_batch({"job-3": b"three", "serial": b"3\n"}, [])
    rep.on_batch({"job-3": b"three v2"}, [("job-3", "archive/0/job-3")])
    rep.start()
    try:
        assert rep.flush(30)
    finally:
        rep.stop()
    names = [(name, args[0] if name == "jobqueue_update" else args)
             for name, _, args in rpc.calls]
    assert names[0] == ("jobqueue_update", "serial")
    assert names[1] == ("jobqueue_update", "job-3")
    assert names[2] == ("jobqueue_rename", ([["job-3", "archive/0/job-3"]],))
    sent = [args for name, _, args in rpc.calls if name == "jobqueue_update"]
    assert redist.decode_data(sent[1][1]) == b"three v2"
    assert all(nodes == [node_name(2), node_name(3)]
               for _, nodes, _ in rpc.calls)


def test_config_replicator_pushes_to_candidates(master_root: Any) -> None:
    data = make_config(nodes=3)
    data.nodes[node_name(3)].master_candidate = False
    cfg = FakeCfg(data)
    rpc = RecordingRpc()
    rep = replication.ConfigReplicator(cfg, rpc, node_name(1))
    replication.register(cfg, rep)
    rep.start()
    try:
        rep.on_write(2)
        assert replication.flush_all(cfg, 30)
    finally:
        rep.stop()
    # The whole files: config.data, then its journal (none on the master:
    # an empty one replaces the candidate's).
    assert [(n, a[0]) for name, n, a in rpc.calls] == [
        ([node_name(2)], CONF.cluster_conf_file),
        ([node_name(2)], CONF.cluster_conf_file + ".journal")]
    digest = hashlib.sha1(redist.decode_data(rpc.calls[0][2][1])).hexdigest()
    assert digest == hashlib.sha1(b"{}").hexdigest()
    assert redist.decode_data(rpc.calls[1][2][1]) == b""


def test_candidate_only_paths_follow_the_published_targets(
        tmp_path: Path) -> None:
    paths = pathutils.Paths(str(tmp_path))
    os.makedirs(paths.data_dir)
    # No ssconf: the static candidates' files.
    assert redist.candidate_only_paths(paths) == sorted(
        [CONF.cluster_conf_file, CONF.cluster_conf_file + ".journal",
         CONF.rapi_cert_file, CONF.rapi_users_file])
    data = make_config(nodes=1)
    data.cluster.redist_files = [
        objects.RedistFile(path="/etc/mc", target="candidates"),
        objects.RedistFile(path="/etc/every", target="all"),
        objects.RedistFile(path=CONF.rapi_users_file, target="all")]
    ssconf.write_files(ssconf.compute_values(data), paths)
    assert redist.candidate_only_paths(paths) == sorted(
        [CONF.cluster_conf_file, CONF.cluster_conf_file + ".journal",
         CONF.rapi_cert_file, "/etc/mc"])


class GatedRpc(RecordingRpc):
    """Blocks the first call until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def call(self, name: str, nodes: list[str], *args: Any
             ) -> dict[str, RpcResult]:
        if not self.entered.is_set():
            self.entered.set()
            assert self.release.wait(30)
        return super().call(name, nodes, *args)


def test_stopping_a_replicator_finishes_what_was_kicked(
        master_root: Any) -> None:
    """A master daemon that stops (a failover stops the old one) must not
    drop a push that was still queued: the new master starts from the
    candidates' copies."""
    cfg = FakeCfg(make_config(nodes=2))
    rpc = GatedRpc()
    rep = replication.ConfigReplicator(cfg, rpc, node_name(1))
    rep.start()
    rep.on_write(2)
    assert rpc.entered.wait(30)  # the first push is on its way...
    rep.on_write(3)  # ...and a second write is queued behind it
    stopping = threading.Event()
    original_flush = rep.flush

    def flush(timeout: float = 30.0) -> bool:
        stopping.set()
        return original_flush(timeout)

    rep.flush = flush  # type: ignore[method-assign]
    stopper = threading.Thread(target=rep.stop)
    stopper.start()
    # Let the first push end only once stop() is under way (waiting for
    # the work, or, as before the fix, already marked stopped).
    while not (stopping.wait(0.01) or rep._stopped):
        pass
    rpc.release.set()
    stopper.join(30)
    assert not stopper.is_alive()
    # Two rounds, each the whole files (config.data and its journal).
    assert [a[0] for _, _, a in rpc.calls].count(CONF.cluster_conf_file) == 2
