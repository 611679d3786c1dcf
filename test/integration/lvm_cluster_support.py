"""The helper of the tests of LVM-backed instances on local clusters
(``-t plain``, ``-t drbd``): commands, and the lvm2 simulator's view of
a node's volumes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ganeti import constants
from ganeti.localcluster import LocalCluster, LocalNode
from ganeti.standins import lvm as simulator

EXAMPLE_OS = Path(__file__).resolve().parents[2] / "doc" / "examples" / "os" \
    / "ganeti-demo-os"
#: The instance name the plain tests use.
INST = "web1.example.com"


class Plain:
    def __init__(self, lc: LocalCluster) -> None:
        self.lc = lc
        self.n1, self.n2 = lc.node(1), lc.node(2)
        for node in lc.nodes:
            shutil.copytree(EXAMPLE_OS, Path(node.paths.os_search_path[0])
                            / "ganeti-demo-os")

    def run(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.lc.gnt(command, *args)

    def ok(self, command: str, *args: str) -> str:
        res = self.run(command, *args)
        assert res.returncode == 0, f"{args}: {res.stdout}{res.stderr}"
        return res.stdout

    def fails(self, match: str, command: str, *args: str) -> str:
        res = self.run(command, *args)
        out = res.stdout + res.stderr
        assert res.returncode != 0 and match in out, out
        assert "Traceback" not in out, out
        return out

    def lvs(self, node: LocalNode) -> dict[str, Any]:
        """The simulated volumes of ``node`` (name -> state)."""
        path = os.path.join(simulator.state_dir(node.paths),
                            simulator.STATE_FILE)
        with open(path, encoding="utf-8") as handle:
            lvs: dict[str, Any] = json.load(handle)["vgs"][
                constants.DEFAULT_VG]["lvs"]
        return lvs

    def disk_path(self, node: LocalNode, lv: str) -> str:
        return os.path.join(simulator.state_dir(node.paths),
                            constants.DEFAULT_VG, lv)
