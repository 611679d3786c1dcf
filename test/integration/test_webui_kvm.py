"""The web console's VNC viewer on a KVM instance: noVNC in headless
Chromium, through the RAPI's websocket relay, to the VNC server of a
real qemu (TCG, BIOS only: the guest needs no OS to draw a screen)."""

from __future__ import annotations

import os
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import webdriver
from conftest_cluster import _free_prefix, ok, short_dir
from kvm_guest_support import DEMO_OS

from ganeti import constants, localcluster
from ganeti.localcluster import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.skipif(not os.path.exists(constants.KVM_PATH),
                                 reason=f"{constants.KVM_PATH} missing"),
              pytest.mark.skipif(not webdriver.available(),
                                 reason="needs chromium and chromium-driver")]

INSTANCE = "vnc1.local-cluster.example"
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" \
    / "webui-kvm"


@pytest.fixture(scope="module")
def kvm_cluster() -> Iterator[LocalCluster]:
    """One KVM node with the RAPI and an instance whose VNC server
    listens on the node's address."""
    directory = short_dir()
    cluster = LocalCluster(os.path.join(directory, "kvm"), nodes=1,
                           hypervisor=constants.HT_KVM,
                           prefix=_free_prefix(1))
    try:
        cluster.start()
        shutil.copytree(DEMO_OS, cluster.node(1).paths.under(
            "/srv/ganeti/os/ganeti-demo-os"), dirs_exist_ok=True)
        ok(cluster.gnt("gnt-instance", "add", "-o", "ganeti-demo-os+minimal",
                       "-t", "diskless", "--no-name-check", "--no-ip-check",
                       "-B", "memory=64", "-n", cluster.node(1).name,
                       "-H", f"vnc_bind_address={cluster.node(1).ip},"
                       "vnc_password_file=",
                       INSTANCE))
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_novnc_shows_the_qemu_screen(kvm_cluster: LocalCluster) -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    password = urllib.parse.quote(kvm_cluster.rapi_password or "", safe="")
    base = f"{kvm_cluster.node(1).ip}:{kvm_cluster.rapi_port}"
    with webdriver.Browser() as browser:
        browser.get(f"https://{localcluster.RAPI_USER}:{password}@{base}/ui/")
        console = f"https://{base}/ui/console.html?instance={INSTANCE}"
        browser.get(console)
        try:
            browser.wait_text("#console-status", "Connected")
        except AssertionError:
            # Keep what the RAPI logged and what the page knew.
            log = kvm_cluster.node(1).paths.log_file(constants.RAPI)
            shutil.copy(log, ARTIFACTS / "rapi.log")
            (ARTIFACTS / "page-state.json").write_text(browser.execute(
                "const r = window.rfb; return JSON.stringify({"
                "rfb: r ? r._rfbConnectionState : null, resources: "
                "performance.getEntriesByType('resource').map("
                "e => [e.name, Math.round(e.startTime),"
                " Math.round(e.duration)])});"))
            raise
        # noVNC draws the framebuffer into a canvas of the guest's size.
        size = browser.wait_for("the guest's screen", lambda: browser.execute(
            "const c = document.querySelector('#screen canvas');"
            "return c && c.width > 100 ? [c.width, c.height] : null;"))
        assert size[1] > 100
        # The BIOS writes text: some pixel of the framebuffer is lit.
        browser.wait_for("a lit pixel on the guest's screen", lambda: (
            browser.execute(
                "const c = document.querySelector('#screen canvas');"
                "const d = c.getContext('2d')"
                ".getImageData(0, 0, c.width, c.height).data;"
                "for (let i = 0; i < d.length; i += 4) {"
                "  if (d[i] + d[i + 1] + d[i + 2] > 96) return true; }"
                "return false;")))
        browser.screenshot(ARTIFACTS / "console-kvm.png")
