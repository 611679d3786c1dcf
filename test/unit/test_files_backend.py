"""Node side of file redistribution: the upload list, safe paths, atomic
writes with mode and times, checksums, the job queue copy, commands."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from testkit import make_unbuilt

from ganeti import backend, errors, pathutils, redist, ssconf

CONF = pathutils.Paths("")


@pytest.fixture
def node(tmp_path: Path):  # type: ignore[no-untyped-def]
    paths = pathutils.set_root(str(tmp_path / "node"))
    os.makedirs(paths.data_dir)
    backend.load_handlers()
    yield paths
    pathutils.set_root(None)


def upload(path: str, data: bytes = b"content\n", mode: int = 0o640,
           call: str = "upload_file") -> Any:
    return backend.dispatch(call, [path, redist.encode_data(data), mode, -1,
                                   -1, 1000000000, 1200000000])


def test_static_files_are_accepted_with_mode_and_times(node: Any) -> None:
    upload(CONF.rapi_users_file, b"admin pw write\n", 0o640)
    local = Path(node.rapi_users_file)
    assert local.read_bytes() == b"admin pw write\n"
    st = local.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert int(st.st_mtime) == 1200000000
    # A directory that does not exist yet is created (the VNC file).
    upload(CONF.vnc_password_file, bytes(range(256)) * 100, 0o600)
    assert Path(node.vnc_password_file).read_bytes() == bytes(range(256)) * 100


@pytest.mark.parametrize("path", [
    "/etc/passwd",
    CONF.noded_cert_file,                      # never by upload
    CONF.ssconf_file("master_node"),           # has its own call
    "/var/lib/ganeti/../ganeti/rapi_users",    # .. trick
    "/var/lib/ganeti/./rapi_users",
    "/var/lib/ganeti//rapi_users",
    "/var/lib/ganeti/rapi_users/",
])
def test_paths_off_the_list_are_refused(node: Any, path: str) -> None:
    with pytest.raises(errors.GenericError) as info:
        upload(path)
    assert "refused" in str(info.value) or "Invalid path" in str(info.value)
    assert not os.path.exists(node.under("/etc/passwd"))


def test_published_extra_files_are_accepted(node: Any) -> None:
    with pytest.raises(errors.OpPrereqError, match="refused"):
        upload("/etc/site/extra.conf")
    values = {key: "" for key in ssconf.VALID_KEYS}
    values[ssconf.SS_REDIST_FILES] = "/etc/site/extra.conf all"
    ssconf.write_files(values, node)
    upload("/etc/site/extra.conf", b"x=1\n")
    assert Path(node.under("/etc/site/extra.conf")).read_bytes() == b"x=1\n"


def test_symlink_escape_from_the_root_is_refused(node: Any,
                                                 tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    etc = Path(node.under("/etc"))
    etc.mkdir(parents=True)
    os.symlink(outside, etc / "ganeti")
    with pytest.raises(errors.OpPrereqError, match="outside the node's root"):
        upload(CONF.vnc_password_file)
    assert not list(outside.iterdir())


def test_a_symlinked_target_file_is_replaced_not_followed(
        node: Any, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.symlink(victim, node.rapi_users_file)
    upload(CONF.rapi_users_file, b"new\n")
    assert victim.read_text() == "keep"
    assert not os.path.islink(node.rapi_users_file)


def test_copyfile_takes_any_absolute_path_under_the_root(node: Any) -> None:
    upload("/srv/anything/file.txt", b"hi", call="copyfile")
    assert Path(node.under("/srv/anything/file.txt")).read_bytes() == b"hi"
    with pytest.raises(errors.GenericError, match=r"absolute|normalized"):
        upload("relative/file", call="copyfile")


def test_fingerprints(node: Any) -> None:
    upload(CONF.rapi_users_file, b"abc")
    sums = backend.dispatch("fingerprint_files",
                            [[CONF.rapi_users_file, CONF.rapi_cert_file]])
    assert sums == {CONF.rapi_users_file:
                    "a9993e364706816aba3e25717850c26c9cd0d89d",
                    CONF.rapi_cert_file: None}


def test_job_queue_copy(node: Any) -> None:
    backend.dispatch("jobqueue_update", ["serial", redist.encode_data(b"4\n")])
    backend.dispatch("jobqueue_update", ["job-4", redist.encode_data(b"{}")])
    assert Path(node.queue_dir, "job-4").read_text() == "{}"
    backend.dispatch("jobqueue_rename", [[["job-4", "archive/0/job-4"],
                                          ["job-9", "archive/0/job-9"]]])
    assert Path(node.queue_dir, "archive/0/job-4").exists()
    for bad in ("../config.data", "lock", "job-4/../../x", "job-01"):
        with pytest.raises(errors.OpPrereqError, match="Invalid job queue"):
            backend.dispatch("jobqueue_update", [bad, redist.encode_data(b"")])
    with pytest.raises(errors.OpPrereqError, match="archive"):
        backend.dispatch("jobqueue_rename", [[["job-4", "job-5"]]])
    backend.dispatch("jobqueue_purge", [])
    assert sorted(os.listdir(node.queue_dir)) == []


def test_run_command_without_shell(node: Any) -> None:
    res = backend.dispatch("run_command", [["echo", "a;", "b"], 30])
    assert res["exit_code"] == 0 and res["output"] == "a; b\n"
    res = backend.dispatch("run_command", [["false"], 30])
    assert res["exit_code"] == 1 and "exit code 1" in res["fail_reason"]
    res = backend.dispatch("run_command", [["/no/such/program"], 30])
    assert res["exit_code"] is None and res["fail_reason"]


def test_node_verify(node: Any, monkeypatch: Any) -> None:
    make_unbuilt(monkeypatch, "xen-pvm")
    res = backend.dispatch("node_verify", [["fake", "xen-pvm"]])
    assert res["protocol"] == 30 and res["hypervisor"]["fake"] == []
    assert "not available in this build" in res["hypervisor"]["xen-pvm"][0]


def test_demoted_node_drops_the_candidates_files(
        node: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ganeti.backend import lifecycle

    monkeypatch.setenv(pathutils.HOSTNAME_ENV, "node2.example.com")
    values = {ssconf.SS_MASTER_NODE: "node1.example.com",
              ssconf.SS_REDIST_FILES: "/etc/cand candidates\n/etc/every all"}
    ssconf.write_files(values, node)
    for path in (CONF.cluster_conf_file, CONF.rapi_users_file,
                 CONF.rapi_cert_file, CONF.confd_hmac_key, "/etc/cand",
                 "/etc/every"):
        upload(path)
    backend.dispatch("jobqueue_update", ["job-1", redist.encode_data(b"{}")])
    # Only this root's node daemon answers (never a master in-process).
    with pytest.raises(errors.OpExecError, match="only by the node daemon"):
        backend.dispatch("node_demote_from_mc", [])
    assert os.path.exists(node.cluster_conf_file)
    monkeypatch.setattr(lifecycle, "_in_node_daemon", lambda: True)
    removed = backend.dispatch("node_demote_from_mc", [])
    assert removed == sorted([CONF.cluster_conf_file, CONF.rapi_users_file,
                              CONF.rapi_cert_file, "/etc/cand"])
    for path in removed:
        assert not os.path.exists(node.under(path))
    assert os.path.exists(node.confd_hmac_key)
    assert os.path.exists(node.under("/etc/every"))
    assert os.listdir(node.queue_dir) == []
    assert backend.dispatch("node_demote_from_mc", []) == []
    # The master keeps its files.
    ssconf.write_files({**values,
                        ssconf.SS_MASTER_NODE: "node2.example.com"}, node)
    upload(CONF.cluster_conf_file)
    with pytest.raises(errors.OpPrereqError, match="is the master"):
        backend.dispatch("node_demote_from_mc", [])
    assert os.path.exists(node.cluster_conf_file)
