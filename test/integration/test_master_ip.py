"""Master IP activation with the real ``ip`` tool, inside a network
namespace this test creates (and deletes) with a veth pair in it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PYLIB = str(Path(__file__).resolve().parents[2] / "pylib")
MASTER_IP = "198.51.100.254"


def ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True,
                          check=False)


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    name = f"gnt-mip-{os.getpid()}"
    res = ip("netns", "add", name)
    if res.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {res.stderr.strip()}")
    try:
        assert ip("-n", name, "link", "add", "gnt0", "type", "veth", "peer",
                  "name", "gnt1").returncode == 0
        assert ip("-n", name, "link", "set", "gnt0", "up").returncode == 0
        yield name
    finally:
        ip("netns", "delete", name)


def in_netns(ns: str, call: str) -> subprocess.CompletedProcess[str]:
    code = f"from ganeti import bootstrap; bootstrap.{call}"
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                           code], capture_output=True, text=True, check=False,
                          env=dict(os.environ, PYTHONPATH=PYLIB))


def addresses(ns: str) -> str:
    return ip("-n", ns, "-4", "addr", "show", "dev", "gnt0").stdout


def test_activate_and_deactivate_master_ip(netns: str) -> None:
    activate = f"activate_master_ip('{MASTER_IP}', 'gnt0')"
    deactivate = f"deactivate_master_ip('{MASTER_IP}', 'gnt0')"
    assert in_netns(netns, activate).returncode == 0
    assert f"{MASTER_IP}/32" in addresses(netns)
    assert "gnt0:0" in addresses(netns)
    # Activating twice is fine (the address is already there).
    assert in_netns(netns, activate).returncode == 0
    assert in_netns(netns, deactivate).returncode == 0
    assert MASTER_IP not in addresses(netns)
    # ... and so is deactivating an absent address.
    assert in_netns(netns, deactivate).returncode == 0


def test_unknown_device_is_a_clear_error(netns: str) -> None:
    res = in_netns(netns, f"activate_master_ip('{MASTER_IP}', 'nosuch0')")
    assert res.returncode != 0
    assert f"Cannot activate master IP {MASTER_IP} on nosuch0" in res.stderr
