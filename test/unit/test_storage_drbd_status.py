"""The DRBD status parsers on the recorded samples of test/data/drbd/
(see its README for where each format comes from), and the mirror
status the master gets from each state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ganeti import errors
from ganeti.storage.base import LdiskStatus
from ganeti.storage.drbd import status

DATA = Path(__file__).resolve().parents[1] / "data" / "drbd"


def sample(name: str) -> str:
    return (DATA / name).read_text()


def test_proc_version() -> None:
    assert status.parse_proc_version(sample("proc-8.4-connected.txt")) == \
        (8, 4)
    assert status.parse_proc_version("version: 9.2.5 (api:2/proto:86-122)\n"
                                     "Transports (api:18): tcp\n") == (9, 2)
    with pytest.raises(errors.BlockDeviceError, match="no version line"):
        status.parse_proc_version("garbage\n")


def test_connected_and_up_to_date() -> None:
    for states in (status.parse_proc_drbd(sample("proc-8.4-connected.txt")),
                   status.parse_status_json(
                       sample("status-9-connected.json"))):
        state = states[0]
        assert state.is_primary and state.connected and not state.syncing
        st = state.sync_status("/dev/drbd0")
        assert (st.sync_percent, st.estimated_time, st.is_degraded,
                st.ldisk_status) == (None, None, False, LdiskStatus.OKAY)
    proc = status.parse_proc_drbd(sample("proc-8.4-connected.txt"))
    assert not proc[1].configured
    assert proc[2].role == "Secondary" and proc[2].peer_role == "Primary"


@pytest.mark.parametrize("parse, name", [
    (status.parse_proc_drbd, "proc-8.4-syncing.txt"),
    (status.parse_status_json, "status-9-syncing.json"),
    (status.parse_events2, "events2-9-syncing.txt"),
])
def test_syncing_with_progress_and_eta(parse: Callable[[str], Any], name: str) -> None:
    states = parse(sample(name))
    source = states[0].sync_status("/dev/drbd0")
    assert source.sync_percent == pytest.approx(15.3, abs=0.1)
    assert source.estimated_time == 14
    assert not source.is_degraded and source.ldisk_status == LdiskStatus.OKAY
    if 3 in states:
        target = states[3].sync_status("/dev/drbd3")
        assert target.sync_percent == pytest.approx(77.8, abs=0.1)
        assert target.estimated_time == 65
        # The target's data is not usable until the resync ends.
        assert target.ldisk_status == LdiskStatus.UNKNOWN


@pytest.mark.parametrize("parse, name", [
    (status.parse_proc_drbd, "proc-8.4-degraded.txt"),
    (status.parse_status_json, "status-9-degraded.json"),
    (status.parse_events2, "events2-9-degraded.txt"),
])
def test_degraded_states(parse: Callable[[str], Any], name: str) -> None:
    states = parse(sample(name))
    missing_peer = states[0]
    assert missing_peer.connection in ("WFConnection", "Connecting")
    st = missing_peer.sync_status("p")
    assert st.is_degraded and st.ldisk_status == LdiskStatus.OKAY
    diskless = states[2].sync_status("p")
    assert diskless.is_degraded and diskless.ldisk_status == LdiskStatus.FAULTY
    split_brain = states[5] if 5 in states else states[1]
    assert split_brain.connection == "StandAlone"
    assert split_brain.sync_status("p").is_degraded
    if 4 in states:  # a failed local disk
        failed = states[4].sync_status("p")
        assert failed.is_degraded and failed.ldisk_status == LdiskStatus.FAULTY


def test_bad_outputs_are_one_line_errors() -> None:
    with pytest.raises(errors.BlockDeviceError, match="not JSON"):
        status.parse_status_json("{")
    with pytest.raises(errors.BlockDeviceError, match="no minor"):
        status.parse_status_json('[{"devices": [{"volume": 0}]}]')
    with pytest.raises(errors.BlockDeviceError, match="no minor"):
        status.parse_events2("exists device name:r volume:0 disk:UpToDate\n")
    assert status.parse_status_json("") == {}
