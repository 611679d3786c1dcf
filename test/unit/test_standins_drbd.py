"""The DRBD simulator driven by the real driver: mirrored data, resync
progress in virtual time, faults, and DRBD's refusals with its exit
codes; for the DRBD 8.4 and the DRBD 9 user space."""

from __future__ import annotations

from pathlib import Path

import pytest
from drbd_pair_support import SIZE, Pair

from ganeti import errors
from ganeti.standins import drbd as simulator
from ganeti.storage.base import LdiskStatus


@pytest.fixture(params=["8.4.11", "9.2.5"], ids=["8.4", "9"])
def pair(tmp_path: Path, request: pytest.FixtureRequest) -> Pair:
    return Pair(tmp_path, request.param)


def test_initial_sync_progresses_with_virtual_time(pair: Pair) -> None:
    pair.create()
    first = pair.dev("a").get_sync_status()
    assert first.sync_percent == 0.0 and not first.is_degraded
    # 64 MiB at 1 MiB/s: 64 virtual seconds; no step per observation here.
    assert first.estimated_time == 64
    pair.sim["a"].advance(16)
    st = pair.dev("a").get_sync_status()
    assert st.sync_percent == 25.0 and st.estimated_time == 48
    target = pair.dev("b").get_sync_status()
    assert target.sync_percent == 25.0
    assert target.ldisk_status == LdiskStatus.UNKNOWN
    pair.sim["b"].advance(48)
    for node in "ab":
        st = pair.dev(node).get_sync_status()
        assert (st.sync_percent, st.is_degraded, st.ldisk_status) == \
            (None, False, LdiskStatus.OKAY)


def test_each_observation_advances_by_the_step(pair: Pair) -> None:
    pair.sim["a"].set_step(32)
    pair.create()
    assert pair.dev("a").get_sync_status().sync_percent == 50.0
    assert pair.dev("a").get_sync_status().sync_percent is None


def test_data_reaches_the_peer_and_survives_a_crash(pair: Pair) -> None:
    pair.create()
    pair.sim["a"].advance(64)
    pair.write("a", b"written on a", 4096)
    pair.dev("b").state()  # any command of any node: protocol C, lazily
    with open(pair.data("b"), "rb") as handle:
        handle.seek(4096)
        assert handle.read(12) == b"written on a"
    # Node a dies; b takes over (its data is up to date) and writes alone.
    pair.sim["a"].inject("crash")
    st = pair.dev("b").get_sync_status()
    assert st.is_degraded and st.ldisk_status == LdiskStatus.OKAY
    assert pair.dev("b").state().connection in ("WFConnection", "Connecting")
    pair.dev("b").set_primary()
    pair.write("b", b"written on b")
    # a comes back as the secondary: b's changes flow back to it.
    pair.dev("a").activate()
    assert pair.dev("a").get_sync_status().sync_percent == 0.0
    pair.sim["a"].advance(64)
    assert not pair.dev("a").get_sync_status().is_degraded
    assert pair.read(pair.data("a"), 12) == b"written on b"


def test_peer_dying_mid_sync_leaves_the_target_inconsistent(pair: Pair
                                                            ) -> None:
    pair.create()
    pair.sim["a"].advance(16)
    pair.sim["a"].inject("crash")
    st = pair.dev("b").get_sync_status()
    assert st.is_degraded and st.ldisk_status == LdiskStatus.UNKNOWN
    with pytest.raises(errors.BlockDeviceError,
                       match="Need access to UpToDate data"):
        pair.dev("b").set_primary()


def test_new_volumes_resync_from_the_peer(pair: Pair) -> None:
    """replace-disks' way: detach, new volumes with fresh metadata,
    attach; the peer resyncs them."""
    pair.create()
    pair.sim["a"].advance(64)
    pair.write("a", b"keep me")
    old = pair.dev("b")
    old.detach_disk()
    assert old.get_sync_status().ldisk_status == LdiskStatus.FAULTY
    disk = pair.disk.copy()
    disk.children[0].logical_id = ["xenvg", "new.disk0_data"]
    disk.children[1].logical_id = ["xenvg", "new.disk0_meta"]
    new = pair.dev("b", disk)
    new.data.create(SIZE)
    new.meta.create(128)
    new.attach_disks(init_meta=True)
    st = new.get_sync_status()
    assert st.sync_percent == 0.0 and st.ldisk_status == LdiskStatus.UNKNOWN
    pair.sim["a"].advance(64)
    assert new.get_sync_status().ldisk_status == LdiskStatus.OKAY
    assert pair.read(new.data.dev_path, 7) == b"keep me"
    old.data.remove()
    old.meta.remove()


def test_failed_local_disk_reads_through_the_peer(pair: Pair) -> None:
    pair.create()
    pair.sim["a"].advance(64)
    pair.sim["a"].inject("disk-failure", minor=0)
    st = pair.dev("a").get_sync_status()
    assert st.is_degraded and st.ldisk_status == LdiskStatus.FAULTY
    pair.write("a", b"via the peer")
    assert pair.read(pair.data("b"), 12) == b"via the peer"


def test_split_brain_stays_until_resolved(pair: Pair) -> None:
    pair.create()
    pair.sim["a"].advance(64)
    pair.sim["a"].inject("split-brain", minor=0)
    for node in "ab":
        state = pair.dev(node).state()
        assert state is not None and state.connection == "StandAlone"
        assert pair.dev(node).get_sync_status().is_degraded
    pair.dev("b").attach_net(multimaster=False)
    pair.dev("a").attach_net(multimaster=False)
    assert pair.dev("a").state().connection == "StandAlone"  # found again
    # The administrator's way out: b discards its data on reconnecting.
    runner = pair.dev("b").runner
    ep = pair.dev("b").endpoint
    if runner.version()[0] == 8:
        argv = ["drbdsetup", "connect", ep.resource, ep.local_address,
                ep.remote_address, "--discard-my-data",
                f"--shared-secret={ep.secret}"]
    else:
        argv = ["drbdsetup", "connect", ep.resource, str(ep.peer_id),
                "--discard-my-data"]
        for cmd in runner.commands().connect(ep, {}, False)[:-1]:
            runner.run(cmd)
    pair.dev("a").attach_net(multimaster=False)
    runner.run(argv)
    assert pair.dev("b").get_sync_status().sync_percent == 0.0


def test_refusals_have_drbds_exit_codes(pair: Pair) -> None:
    pair.create()
    pair.sim["a"].advance(64)
    with pytest.raises(errors.BlockDeviceError,
                       match="Multiple primaries not allowed by config"):
        pair.dev("b").set_primary()
    runner = pair.dev("a").runner
    res = runner.executor(["drbdsetup", "primary", "3"])  # b's minor, not a's
    assert (res.exit_code, res.stderr.strip()) == \
        (10, "3: (127) Device minor not allocated")
    res = runner.executor(["drbdsetup", "attach", "9", "/x", "/y", "flexible"])
    assert (res.exit_code, res.stderr.strip()) == \
        (10, "9: (127) Device minor not allocated")
    with pytest.raises(errors.BlockDeviceError, match="already in use"):
        pair.dev("a").create(SIZE)


def test_metadata_is_required(pair: Pair, tmp_path: Path) -> None:
    dev = pair.dev("a")
    dev.data.create(SIZE)
    dev.meta.create(128)  # but no create-md
    with pytest.raises(errors.BlockDeviceError,
                       match="No valid meta-data signature found"):
        dev.activate()


def test_remove_leaves_nothing(pair: Pair) -> None:
    pair.create()
    for node in "ab":
        dev = pair.dev(node)
        dev.remove()
        assert not dev.exists()
        assert not dev.data.exists() and not dev.meta.exists()
    assert not list((Path(pair.shared).parent / "a" / "dev").glob("drbd*"))


def test_fault_tool(pair: Pair, capsys: pytest.CaptureFixture[str]) -> None:
    pair.create()
    node_a = pair.sim["a"].node
    assert simulator.main([pair.shared, node_a, "advance", "64"]) == 0
    assert pair.dev("a").get_sync_status().sync_percent is None
    assert simulator.main([pair.shared, node_a, "fault", "disk-failure",
                           "--minor", "7"]) == 1
    assert "No DRBD minor 7" in capsys.readouterr().err
    assert simulator.main([pair.shared, node_a, "fault", "crash"]) == 0
    assert not pair.dev("a").exists()


def test_selection_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ganeti import pathutils
    monkeypatch.delenv(simulator.ENABLE_ENV, raising=False)
    assert simulator.runner_for_node(pathutils.Paths(str(tmp_path))) is None
    monkeypatch.setenv(simulator.ENABLE_ENV, str(tmp_path / "shared"))
    assert simulator.runner_for_node(pathutils.Paths("")) is None
    runner = simulator.runner_for_node(pathutils.Paths(str(tmp_path)))
    assert runner is not None and runner.dev_dir == str(tmp_path / "dev")


def test_answers_parse_as_the_recorded_formats(pair: Pair) -> None:
    from ganeti.storage.drbd import status
    pair.create()
    pair.sim["a"].advance(16)
    runner = pair.dev("a").runner
    if runner.version()[0] == 8:
        text = pair.sim["a"].read_proc()
        assert "sync'ed: 25.0% (49152/65536)K" in text
        state = status.parse_proc_drbd(text)[0]
    else:
        state = status.parse_events2(runner.run(
            ["drbdsetup", "events2", "--now", "--statistics"]))[0]
    assert (state.connection, state.role, state.disk, state.peer_disk) == \
        ("SyncSource", "Primary", "UpToDate", "Inconsistent")
    assert state.sync_percent == 25.0 and state.eta_seconds == 48
