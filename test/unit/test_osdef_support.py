"""Builders shared by the test_osdef_* tests (no tests here).

:func:`make_os` writes an OS definition into a directory; scripts default
to ones that record their environment, arguments and working directory
into files next to the definition, so tests see exactly what a script got
(the environment is clean, so the output paths are written into the
script text itself).
"""

from __future__ import annotations

import contextlib
import os
import shlex
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ganeti import constants, objects, pathutils

ALL_SCRIPTS = ("create", "import", "export", "rename", "verify")

#: The example OS shipped under doc/examples/os.
EXAMPLE_OS_DIR = Path(__file__).resolve().parents[2] / "doc" / "examples" / "os"


def recording_script(out_dir: Path, script: str, extra: str = "") -> str:
    """A script that dumps its environment, arguments and cwd, then runs
    ``extra`` (shell text)."""
    base = shlex.quote(str(out_dir / script))
    return (
        "#!/bin/sh\n"
        f"env > {base}.env\n"
        f"printf '%s\\n' \"$@\" > {base}.args\n"
        f"pwd > {base}.cwd\n"
        f"{extra}\n")


def make_os(root: Path, name: str = "testos", *,
            versions: str | None = "20\n15\n10\n",
            variants: str | None = None,
            parameters: str | None = "",
            scripts: Mapping[str, str] | None = None,
            omit: Iterable[str] = (),
            mode: int = 0o755) -> Path:
    """Write an OS definition ``root/name``; returns its directory.

    ``None`` for a text file means "do not write it"; ``scripts`` replaces
    the text of the named scripts (the others record their environment
    into :func:`output_dir`); ``omit`` leaves scripts out.
    """
    os_dir = root / name
    os_dir.mkdir(parents=True)
    out_dir = output_dir(root, name)
    out_dir.mkdir(parents=True, exist_ok=True)
    if versions is not None:
        (os_dir / constants.OS_API_FILE).write_text(versions)
    if variants is not None:
        (os_dir / constants.OS_VARIANTS_FILE).write_text(variants)
    if parameters is not None:
        (os_dir / constants.OS_PARAMETERS_FILE).write_text(parameters)
    given = dict(scripts or {})
    for script in ALL_SCRIPTS:
        if script in omit:
            continue
        text = given.get(script, recording_script(out_dir, script))
        path = os_dir / script
        path.write_text(text)
        os.chmod(path, mode)
    return os_dir


def output_dir(root: Path, name: str = "testos") -> Path:
    """Where the recording scripts of ``make_os(root, name)`` write: beside
    the search path entry ``root``, not in it (``root`` is a directory
    under the test's ``tmp_path``, never ``tmp_path`` itself)."""
    return root.parent / "out" / f"{root.name}-{name}"


def read_env(root: Path, script: str, name: str = "testos") -> dict[str, str]:
    """The environment a recording script saw (one ``K=V`` per line)."""
    text = (output_dir(root, name) / f"{script}.env").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def make_instance(*, os_name: str = "testos+v1", hypervisor: str = "kvm",
                  disk_template: str = constants.DT_FILE,
                  nics: list[objects.NIC] | None = None,
                  disks: list[objects.Disk] | None = None,
                  name: str = "inst1.example.com") -> objects.Instance:
    """An instance with two NICs (bridged with IP, routed) and two disks
    (file with the blktap driver, LVM) unless told otherwise."""
    if nics is None:
        nics = [
            objects.NIC(mac="aa:00:00:00:00:01", ip="192.0.2.10",
                        uuid="nic-uuid-0"),
            objects.NIC(mac="aa:00:00:00:00:02", ip=None,
                        nicparams={"mode": "routed", "link": "100"},
                        uuid="nic-uuid-1"),
        ]
    if disks is None:
        disks = [
            objects.Disk(dev_type=constants.LD_FILE, size=1024,
                         logical_id=[constants.FD_BLKTAP,
                                     "/srv/ganeti/file-storage/i/disk0"],
                         uuid="disk-uuid-0"),
            objects.Disk(dev_type=constants.LD_LV, size=512,
                         logical_id=["xenvg", "disk1"], uuid="disk-uuid-1"),
        ]
    return objects.Instance(name=name, primary_node="node1.example.com",
                            os=os_name, hypervisor=hypervisor,
                            disk_template=disk_template, nics=nics,
                            disks=disks, uuid="inst-uuid")


@contextlib.contextmanager
def os_log_root(tmp_path: Path) -> Iterator[pathutils.Paths]:
    """Paths relocated under ``tmp_path/root`` (OS logs go there)."""
    result = pathutils.set_root(str(tmp_path / "root"))
    try:
        yield result
    finally:
        pathutils.set_root(None)
