"""One lvm2 session, run on real lvm2 to record its answers
(``test/data/lvm2/session.txt``) and on the simulator to check it answers
the same (``test_storage_lvm_simulator.py``).

To re-record (root, lvm2 and free loop devices needed)::

    GANETI_RECORD_LVM2=1 .venv/bin/python -m pytest \
        test/unit/test_storage_lvm_real.py -k session
"""

from __future__ import annotations

import os

from ganeti.storage.lvm import runner as lvm_runner

RECORDING = os.path.join(os.path.dirname(__file__), os.pardir, "data", "lvm2",
                         "session.txt")

#: Size of each physical volume of the session.
PV_MIB = 64
PV_COUNT = 3


def run_session(runner: lvm_runner.LvmRunner, vg: str,
                pvs: list[str]) -> str:
    """The session's transcript, VG and PV names replaced by VG, PV0..."""
    steps: list[tuple[str, list[str]]] = [
        ("lvcreate", [*runner.create_options, "-L", "10m", "-n", "linear", vg]),
        ("lvcreate", [*runner.create_options, "-L", "10m", "-n", "striped",
                      "-i", "2", "-I", "64", vg]),
        ("lvcreate", [*runner.create_options, "-L", "10m", "-n", "small",
                      "-i", "3", "-I", "4", vg]),
        ("lvextend", ["-L", "+8m", f"{vg}/linear"]),
        ("lvrename", [vg, "small", "small2"]),
        ("pvchange", ["-x", "n", pvs[0]]),
        ("lvs", [*lvm_runner.REPORT_OPTIONS, "-o",
                 ",".join(lvm_runner.LV_FIELDS), vg]),
        ("vgs", [*lvm_runner.REPORT_OPTIONS, "-o",
                 ",".join(lvm_runner.VG_FIELDS), vg]),
        ("pvs", [*lvm_runner.REPORT_OPTIONS, "-o",
                 ",".join(lvm_runner.PV_FIELDS), *pvs]),
        ("lvcreate", [*runner.create_options, "-L", "1000m", "-n", "huge", vg]),
        ("lvcreate", [*runner.create_options, "-L", "4m", "-n", "linear", vg]),
        ("lvcreate", [*runner.create_options, "-L", "4m", "-n", "wide",
                      "-i", "4", vg]),
        ("lvremove", ["-f", f"{vg}/nosuchlv"]),
        ("lvrename", [vg, "nosuchlv", "other"]),
        ("lvextend", ["-L", "+4m", f"{vg}/nosuchlv"]),
        ("vgs", [*lvm_runner.REPORT_OPTIONS, "-o", "vg_name", "nosuchvg"]),
        ("lvremove", ["-f", f"{vg}/striped"]),
        ("pvchange", ["-x", "y", pvs[0]]),
        ("vgreduce", ["--removemissing", vg]),
        ("lvs", [*lvm_runner.REPORT_OPTIONS, "-o",
                 ",".join(lvm_runner.LV_FIELDS), vg]),
        ("pvs", [*lvm_runner.REPORT_OPTIONS, "-o",
                 ",".join(lvm_runner.PV_FIELDS), *pvs]),
    ]
    lines = []
    for command, args in steps:
        try:
            output = runner.run(command, *args)
            report = command in ("lvs", "vgs", "pvs")
            answer = output.rstrip("\n") if report else "ok"
        except lvm_runner.LvmCommandError as err:
            answer = "error: " + str(err.args[0])
        lines.append(f"$ {command} {' '.join(args)}\n{answer}")
    text = "\n".join(lines) + "\n"
    for index, pv in sorted(enumerate(pvs), key=lambda p: -len(p[1])):
        text = text.replace(pv, f"PV{index}")
    # No device-mapper on the recording machine: lvm2 shows the state of
    # inactive volumes as unknown ("XX"); the simulator knows them inactive.
    return text.replace(vg, "VG").replace("-wi-XX----", "-wi-------")

