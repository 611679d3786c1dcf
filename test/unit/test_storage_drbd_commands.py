"""The DRBD driver's command lines against the real drbd-utils: for the
same resource and options, ``drbdadm --dry-run`` prints the drbdsetup
and drbdmeta commands it would run (it parses its configuration file
and needs no kernel module), and they must be the driver's, option for
option: the spelling is the real tool's.  DRBD 8.4 through drbd-utils'
8.4 compatibility programs (``/lib/drbd/drbdadm-84``), DRBD 9 through
``drbdadm``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ganeti import errors
from ganeti.storage.drbd import commands

DRBDADM_9 = shutil.which("drbdadm") or "/usr/sbin/drbdadm"
DRBDADM_84 = "/lib/drbd/drbdadm-84"

pytestmark = pytest.mark.skipif(
    not (os.access(DRBDADM_9, os.X_OK) and os.access(DRBDADM_84, os.X_OK)),
    reason="drbd-utils (drbdadm, drbdadm-84) not installed")

DATA, META = "/dev/xenvg/u.disk0_data", "/dev/xenvg/u.disk0_meta"
EP = commands.Endpoint(3, "192.0.2.1", 11000, "192.0.2.2", 11000,
                       "c0ffee5ecret")

PARAMS: list[dict[str, Any]] = [
    {},
    {"disk_barriers": False, "meta_barriers": False, "data_flushes": False,
     "resync_rate": 1024},
    {"meta_flushes": False, "dynamic_resync": True, "c_plan_ahead": 30,
     "c_fill_target": 100, "c_delay_target": 5, "c_max_rate": 102400,
     "c_min_rate": 1024},
    {"net_custom": "--max-buffers=8000 --ko-count=7",
     "disk_custom": "--al-extents=3389"},
]


def _conf_value(option: str) -> str:
    name, _, value = option[2:].partition("=")
    return f"{name} {value or 'yes'};"


def resource_file(tmp_path: Path, ep: commands.Endpoint,
                  params: Mapping[str, Any], two_primaries: bool,
                  nine: bool) -> str:
    """A drbd.conf resource with the options the driver derives from
    ``params``: what an administrator would write by hand."""
    net = [_conf_value(o)
           for o in commands.net_options(ep, params, two_primaries)]
    disk = [_conf_value(o) for o in (*commands.disk_options(params),
                                     *commands.resync_options(params))]
    host = socket.gethostname()
    me, peer = (0, 1) if ep.node_id == 0 else (1, 0)
    text = f"""resource {ep.resource} {{
  net {{ {' '.join(net)} }}
  disk {{ {' '.join(disk)} }}
  on {host} {{ {f'node-id {me};' if nine else ''} device minor {ep.minor};
    disk {DATA}; meta-disk {META}; address ipv4 {ep.local_ip}:{ep.local_port}; }}
  on peer{ep.peer_id} {{ {f'node-id {peer};' if nine else ''} device minor 7;
    disk /dev/xenvg/x_data; meta-disk /dev/xenvg/x_meta;
    address ipv4 {ep.remote_ip}:{ep.remote_port}; }}
}}
"""
    path = tmp_path / f"r{'9' if nine else '84'}.res"
    path.write_text(text)
    return str(path)


def drbdadm(nine: bool, conf: str, *args: str) -> list[list[str]]:
    """The commands ``drbdadm -d`` prints (drbdmeta's activity log replay
    left out: the driver attaches without it)."""
    program = DRBDADM_9 if nine else DRBDADM_84
    res = subprocess.run([program, "-d", "-c", conf, *args],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    cmds = []
    for line in res.stdout.splitlines():
        words = line.split()
        if not words or words[-1] == "apply-al":
            continue
        words[0] = os.path.basename(words[0]).removesuffix("-84")
        cmds.append(words)
    return cmds


def normal(cmds: list[list[str]]) -> list[tuple[tuple[str, ...],
                                                frozenset[str]]]:
    """Commands as (positional words, set of options), sorted: drbdadm
    orders options its own way.  drbdmeta's ``--force`` (the driver never
    answers questions) is left out."""
    return sorted((tuple(w for w in c if not w.startswith("--")),
                   frozenset(w for w in c if w.startswith("--")
                             and (c[0], w) != ("drbdmeta", "--force")))
                  for c in cmds)


@pytest.mark.parametrize("nine", [False, True], ids=["8.4", "9"])
@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("two_primaries", [False, True])
def test_up_matches_drbdadm(tmp_path: Path, nine: bool,
                            params: dict[str, Any],
                            two_primaries: bool) -> None:
    cmds = commands.for_version(9 if nine else 8)
    conf = resource_file(tmp_path, EP, params, two_primaries, nine)
    mine = [*cmds.new_resource(EP), cmds.attach(EP, DATA, META, params),
            *[c for c in cmds.connect(EP, params, two_primaries)]]
    assert normal(mine) == normal(drbdadm(nine, conf, "up", EP.resource))


@pytest.mark.parametrize("nine", [False, True], ids=["8.4", "9"])
def test_other_steps_match_drbdadm(tmp_path: Path, nine: bool) -> None:
    cmds = commands.for_version(9 if nine else 8)
    conf = resource_file(tmp_path, EP, {}, False, nine)
    force = ["--force"] if nine else ["--", "--overwrite-data-of-peer"]
    resize = ["resize", "--size=2048M"] if nine else \
        ["--", "--size=2048M", "resize"]
    disconnect = [*cmds.disconnect(EP)]
    expected_disconnect = drbdadm(nine, conf, "disconnect", EP.resource)
    if nine:
        expected_disconnect += drbdadm(nine, conf, "del-peer", EP.resource)
    for mine, args in [
            ([cmds.create_md(EP.minor, META)], ["create-md"]),
            ([cmds.primary(EP, force=True)],
             ["primary", *force] if nine else [*force, "primary"]),
            ([cmds.primary(EP, force=False)], ["primary"]),
            ([cmds.secondary(EP)], ["secondary"]),
            ([cmds.detach(EP)], ["detach"]),
            ([cmds.down(EP)], ["down"]),
            (cmds.resize(EP, 2048), resize)]:
        assert normal(mine) == normal(drbdadm(nine, conf, *args,
                                              EP.resource)), args
    assert normal(disconnect) == normal(expected_disconnect)


def test_custom_options_must_be_options() -> None:
    with pytest.raises(errors.BlockDeviceError,
                       match="each option must start with '--'"):
        commands.net_options(EP, {"net_custom": "max-buffers 8000"}, False)


def test_node_ids_agree_between_the_ends() -> None:
    peer = commands.Endpoint(5, "192.0.2.2", 11000, "192.0.2.1", 11000, "s")
    assert (EP.node_id, EP.peer_id) == (0, 1)
    assert (peer.node_id, peer.peer_id) == (1, 0)
    same = commands.Endpoint(1, "192.0.2.1", 11000, "192.0.2.1", 11000, "s")
    with pytest.raises(errors.BlockDeviceError, match="are both"):
        _ = same.node_id
    v6 = commands.Endpoint(1, "2001:db8::1", 11000, "2001:db8::2", 11000, "")
    assert v6.local_address == "ipv6:[2001:db8::1]:11000"
    assert "--shared-secret" not in " ".join(commands.net_options(v6, {},
                                                                  False))
