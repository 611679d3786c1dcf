"""``gnt-cluster verify``: N+1 memory redundancy (``ENODEN1``), with
instances on drbd8 disks (their secondary node comes from the disks'
logical ids) and the nodes' free memory from stand-in answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cluster_verify_support import N1, N2, N3, make_env, problems, run_verify

from ganeti import constants

SECTION = "* Verifying N+1 Memory redundancy"


def _drbd(i: int, primary: str, secondary: str, memory: int,
          **beparams: Any) -> dict[str, Any]:
    return {"i": i, "primary": primary, "secondary": secondary,
            "disk_template": constants.DT_DRBD8, "admin_up": False,
            "beparams": {"maxmem": memory, "minmem": memory, **beparams}}


def _verify(tmp_path: Path, specs: list[dict[str, Any]],
            answers: dict[str, dict[str, Any]], **kwargs: Any
            ) -> tuple[bool, list[str], list[str], list[str]]:
    """(verdict, ENODEN1 lines, all lines, RPC calls made)."""
    for cfg, rpc in make_env(tmp_path, specs):
        rpc.vg_info.update(answers)
        ok, lines = run_verify(cfg, rpc, error_codes=True, **kwargs)
        found = [line[4:] for line in problems(lines) if "ENODEN1" in line]
        return ok, found, lines, rpc.calls
    raise AssertionError("no environment")


def _msg(node: str, primary: str, needed: int, free: int) -> str:
    return (f"ERROR:ENODEN1:node:{node}:not enough memory to accommodate"
            f" instance failovers should node {primary} fail ({needed} MiB"
            f" needed, {free} MiB free)")


def test_failovers_that_do_not_fit_are_errors(tmp_path: Path) -> None:
    # N2 is the secondary of two N1 instances (512 + 256 MiB) and of one
    # N3 instance (600 MiB), with 700 MiB free: N3's failover fits, N1's
    # do not.  N1 holds exactly what N2's instance needs.
    specs = [_drbd(1, N1, N2, 512), _drbd(2, N1, N2, 256),
             _drbd(3, N3, N2, 600), _drbd(4, N2, N1, 4096)]
    ok, found, lines, _ = _verify(tmp_path, specs, {
        N2: {"memory_free": 700}, N1: {"memory_free": 4096}})
    assert not ok
    assert found == [_msg(N2, N1, 768, 700)]
    assert SECTION in lines


def test_only_auto_balanced_instances_count(tmp_path: Path) -> None:
    specs = [_drbd(1, N1, N2, 512), _drbd(2, N1, N2, 2048,
                                            auto_balance=False)]
    ok, found, _, _ = _verify(tmp_path, specs, {N2: {"memory_free": 600}})
    assert ok and found == []


def test_skipped_with_no_nplus1_mem(tmp_path: Path) -> None:
    specs = [_drbd(1, N1, N2, 512)]
    ok, found, lines, calls = _verify(tmp_path, specs,
                                      {N2: {"memory_free": 100}},
                                      skip_checks=["nplusone_mem"])
    assert ok and found == [] and SECTION not in lines
    assert calls.count("node_info") == 1  # the volume group check's only


def test_no_mirrored_instances_no_question(tmp_path: Path) -> None:
    specs = [{"i": 1, "primary": N1, "admin_up": False}]
    ok, found, lines, calls = _verify(tmp_path, specs, {})
    assert ok and found == [] and SECTION in lines
    assert calls.count("node_info") == 1


def test_unknown_free_memory_is_an_error(tmp_path: Path) -> None:
    specs = [_drbd(1, N1, N2, 512), _drbd(2, N2, N3, 512)]
    ok, found, _, _ = _verify(tmp_path, specs, {
        N2: {"memory_free": None, "hv_error": "fake: state unreadable"}})
    assert not ok
    assert found == [f"ERROR:ENODEN1:node:{N2}:cannot check N+1 memory"
                     " redundancy: fake: state unreadable"]


def test_offline_secondary_is_not_judged(tmp_path: Path) -> None:
    specs = [_drbd(1, N1, N2, 512)]
    for cfg, rpc in make_env(
            tmp_path, specs,
            tweak=lambda data: setattr(data.nodes[N2], "offline", True)):
        rpc.vg_info[N2] = {"memory_free": 1}
        _, lines = run_verify(cfg, rpc, error_codes=True)
        assert not [line for line in lines if "ENODEN1" in line]
