"""Parsing lvm2 reports (the runner's one parser), without lvm2."""

from __future__ import annotations

import pytest

from ganeti import errors
from ganeti.storage.lvm import runner


def test_report_rows_and_records() -> None:
    # Recorded from lvm2 2.03.16 with the runner's fixed options.
    output = ("  lv1|gntexp|40.00|2|0.06|-wi-a-----||/dev/loop0(0),/dev/loop1(0)\n"
              "  lv3|gntexp|28.00|1|0|-wi-XX----||/dev/loop2(10)\n")
    rows = runner.parse_report(output, runner.LV_FIELDS)
    lvs = [runner.LvInfo.from_row(row) for row in rows]
    assert lvs[0] == runner.LvInfo("lv1", "gntexp", 40, 2, 64, "-wi-a-----", "",
                                   pvs=("/dev/loop0", "/dev/loop1"))
    assert lvs[1].pvs == ("/dev/loop2",)
    assert lvs[0].active and not lvs[1].active
    assert (lvs[1].stripes, lvs[1].stripe_size_kib) == (1, 0)
    pv = runner.PvInfo.from_row(runner.parse_report(
        "  /dev/loop0|gntexp|196.00|136.00|60.00|u--\n", runner.PV_FIELDS)[0])
    assert (pv.size_mib, pv.free_mib, pv.used_mib) == (196, 136, 60)
    assert not pv.allocatable and not pv.missing
    assert runner.PvInfo("x", "v", 1, 1, 0, "a-m").missing
    vg = runner.VgInfo.from_row(runner.parse_report(
        "  gntexp|180.00|132.00|3|3|4.00\n", runner.VG_FIELDS)[0])
    assert (vg.size_mib, vg.free_mib, vg.extent_kib) == (180, 132, 4096)


@pytest.mark.parametrize("size, extent_kib, stripes, allocated", [
    (1, 4096, 1, 4), (4, 4096, 1, 4), (5, 4096, 1, 8), (10, 4096, 2, 16),
    (10, 4096, 3, 12), (1, 32768, 1, 32), (33, 32768, 1, 64),
    (7, 1024, 1, 7), (7, 512, 1, 7), (7, 4, 3, 8), (6, 4, 3, 6)])
def test_requests_round_up_to_whole_extents(size: int, extent_kib: int,
                                            stripes: int,
                                            allocated: int) -> None:
    assert runner.allocated_mib(size, extent_kib, stripes) == allocated


@pytest.mark.parametrize("text, kib", [
    ("0", 0), ("0.00", 4), ("0.01", 8), ("0.02", 16), ("0.03", 32),
    ("0.06", 64), ("0.12", 128), ("0.13", 128), ("0.25", 256), ("0.50", 512),
    ("1.00", 1024), ("16.00", 16384)])
def test_stripe_size_back_to_kib(text: str, kib: int) -> None:
    assert runner.parse_stripe_size_kib(text) == kib


@pytest.mark.parametrize("output, match", [
    ("  a|b\n", r"lvm2 printed 2 fields instead of 8: 'a\|b'"),
    ("  a|v|x|1|0|-wi||p(0)\n", "lvm2 printed an invalid size 'x'"),
    ("  a|v|-1|1|0|-wi||p(0)\n", "lvm2 printed an invalid size '-1'"),
    ("  a|v|1|one|0|-wi||p(0)\n", "lvm2 printed an invalid number 'one'"),
])
def test_bad_output_is_one_line(output: str, match: str) -> None:
    with pytest.raises(errors.BlockDeviceError, match=match):
        for row in runner.parse_report(output, runner.LV_FIELDS):
            runner.LvInfo.from_row(row)


def test_only_lvm2_commands_run() -> None:
    with pytest.raises(errors.ProgrammerError, match="Not an lvm2 command: rm"):
        runner.LvmRunner().run("rm", "-rf", "/")


def test_one_record_per_volume_of_several_segments() -> None:
    # Recorded: a linear volume grown into space not adjacent to its end.
    output = ("  linear|VG|20.00|1|0|-wi-------||PV0(0)\n"
              "  linear|VG|20.00|1|0|-wi-------||PV1(6)\n"
              "  small2|VG|12.00|3|0.00|-wi-------||PV0(5),PV1(2),PV2(0)\n")
    lvs = runner.parse_lvs(runner.parse_report(output, runner.LV_FIELDS))
    assert [(lv.name, lv.size_mib, lv.segments, lv.pvs) for lv in lvs] == \
        [("linear", 20, 2, ("PV0", "PV1")),
         ("small2", 12, 1, ("PV0", "PV1", "PV2"))]
    assert lvs[1].stripe_size_kib == 4
