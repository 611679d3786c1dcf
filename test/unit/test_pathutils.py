"""Paths and the root prefix."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from ganeti import pathutils


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    yield
    pathutils.set_root(None)


def test_unrooted_paths_are_configured_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pathutils.ROOT_ENV, raising=False)
    paths = pathutils.set_root(None)
    assert paths.cluster_conf_file == (
        f"{pathutils.LOCALSTATEDIR}/lib/ganeti/config.data")
    assert paths.rapi_cert_file.endswith("/lib/ganeti/rapi.pem")
    assert paths.master_socket.endswith("/run/ganeti/socket/ganeti-master")


def test_root_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pathutils.ROOT_ENV, "/tmp/node1/")
    paths = pathutils.set_root(None)
    assert paths.root == "/tmp/node1"
    assert paths.cluster_conf_file.startswith("/tmp/node1/")
    assert all(p.startswith("/tmp/node1/") for p in paths.os_search_path)
    assert paths.file_storage_dir.startswith("/tmp/node1/")
    assert paths.vnc_password_file.startswith("/tmp/node1/")


def test_every_path_is_under_the_root() -> None:
    paths = pathutils.Paths("/r")
    for name in dir(pathutils.Paths):
        if name.startswith("_"):
            continue
        value = getattr(paths, name)
        if isinstance(value, str) and name != "root":
            assert value.startswith("/r/"), name
        elif isinstance(value, tuple):
            assert all(v.startswith("/r/") for v in value), name
    assert paths.job_file(7).startswith("/r/")
    assert paths.pid_file("ganeti-noded").startswith("/r/")


def test_strip_inverts_under() -> None:
    paths = pathutils.Paths("/r")
    assert paths.unroot(paths.under("/etc/ganeti/x")) == "/etc/ganeti/x"
    assert paths.unroot("/elsewhere") == "/elsewhere"
    assert pathutils.Paths("").under("/etc/x") == "/etc/x"


def test_set_root_switches_within_process(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    assert pathutils.set_root(root).data_dir.startswith(root)
    assert pathutils.get().data_dir.startswith(root)


def test_hostname_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(pathutils.HOSTNAME_ENV, "node9.example.com")
    assert pathutils.hostname() == "node9.example.com"
