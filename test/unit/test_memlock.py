"""Locking the node daemon's memory (ganeti.utils.memlock, noded --mlock)."""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ganeti import daemon
from ganeti.server import noded
from ganeti.utils import memlock

PYLIB = str(Path(__file__).resolve().parents[2] / "pylib")


class FakeLibc:
    """mlockall/munlockall recording their calls; ``fail`` maps flags to
    the errno that call fails with."""

    def __init__(self, fail: dict[int, int] | None = None) -> None:
        self.fail = fail or {}
        self.calls: list[Any] = []

    def mlockall(self, flags: int) -> int:
        self.calls.append(flags)
        if flags in self.fail:
            ctypes.set_errno(self.fail[flags])
            return -1
        return 0

    def munlockall(self) -> int:
        self.calls.append("munlockall")
        return 0


CURRENT, FUTURE = memlock.MCL_CURRENT, memlock.MCL_FUTURE
ONFAULT_FUTURE = memlock.MCL_FUTURE | memlock.MCL_ONFAULT


def _lock(libc: FakeLibc) -> memlock.LockOutcome:
    return memlock.lock_memory(libc)  # type: ignore[arg-type]


@pytest.fixture
def unlimited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memlock, "_may_lock_without_limit", lambda: True)


def test_current_then_future_on_fault(unlimited: None) -> None:
    libc = FakeLibc()
    outcome = _lock(libc)
    assert outcome.locked and outcome.message.startswith("memory locked (")
    assert libc.calls == [CURRENT, ONFAULT_FUTURE]


def test_old_kernel_without_onfault(unlimited: None) -> None:
    libc = FakeLibc({ONFAULT_FUTURE: errno.EINVAL})
    assert _lock(libc).locked
    assert libc.calls == [CURRENT, ONFAULT_FUTURE, FUTURE]


def test_refused_leaves_nothing_locked(unlimited: None) -> None:
    libc = FakeLibc({CURRENT: errno.ENOMEM})
    outcome = _lock(libc)
    assert not outcome.locked
    assert libc.calls == [CURRENT, "munlockall"]
    assert outcome.message.startswith("cannot lock memory: mlockall: Cannot"
                                      " allocate memory (RLIMIT_MEMLOCK ")
    assert outcome.message.endswith("running unlocked")


def test_future_refused(unlimited: None) -> None:
    libc = FakeLibc({ONFAULT_FUTURE: errno.EPERM})
    outcome = _lock(libc)
    assert not outcome.locked and "future memory" in outcome.message
    assert libc.calls == [CURRENT, ONFAULT_FUTURE, "munlockall"]


def test_limited_without_capability_locks_only_current(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memlock, "_may_lock_without_limit", lambda: False)
    libc = FakeLibc()
    outcome = _lock(libc)
    assert outcome.locked and "future allocations are not" in outcome.message
    assert libc.calls == [CURRENT]


def test_no_mlockall() -> None:
    outcome = memlock.lock_memory(object())  # type: ignore[arg-type]
    assert not outcome.locked and "no mlockall" in outcome.message


_CHILD = ("from ganeti.utils import memlock; o = memlock.lock_memory();"
          " print(o.locked, memlock.locked_kib()); print(o.message)")


def _child(**kwargs: Any) -> list[str]:
    res = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True,
                         text=True, check=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=PYLIB), **kwargs)
    return res.stdout.splitlines()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs CAP_IPC_LOCK")
def test_real_lock_as_root() -> None:
    status, message = _child()
    locked, kib = status.split()
    assert locked == "True" and int(kib) > 0, message


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become nobody")
def test_real_refusal_for_an_unprivileged_user() -> None:
    soft = resource.getrlimit(resource.RLIMIT_MEMLOCK)[0]
    if soft == resource.RLIM_INFINITY or soft > 64 * 1024 * 1024:
        pytest.skip("RLIMIT_MEMLOCK is large enough to lock a Python process")
    status, message = _child(user=65534, group=65534, extra_groups=[])
    assert status.split() == ["False", "0"]
    assert "RLIMIT_MEMLOCK" in message and "running unlocked" in message


@pytest.mark.parametrize(("argv", "mlock"), [
    ([], True), (["--mlock"], True), (["--no-mlock"], False)])
def test_noded_option(argv: list[str], mlock: bool) -> None:
    assert daemon.build_parser(noded.SPEC).parse_args(argv).mlock is mlock


def test_noded_options_exclude_each_other(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        daemon.build_parser(noded.SPEC).parse_args(["--mlock", "--no-mlock"])
    assert "not allowed with argument" in capsys.readouterr().err


class ArenaLibc:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return 1


def test_limit_arenas() -> None:
    libc = ArenaLibc()
    assert memlock.limit_arenas(1, libc)  # type: ignore[arg-type]
    assert libc.calls == [(memlock.M_ARENA_MAX, 1)]
    assert not memlock.limit_arenas(1, FakeLibc())  # type: ignore[arg-type]


def test_noded_limits_arenas_before_any_thread(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []
    monkeypatch.setattr(memlock, "limit_arenas",
                        lambda count=1, libc=None: seen.append(count) or True)
    monkeypatch.setattr(memlock, "lock_memory",
                        lambda libc=None: memlock.LockOutcome(False, "no"))
    assert noded.SPEC.prepare is not None
    noded.SPEC.prepare(daemon.build_parser(noded.SPEC).parse_args(
        ["--no-mlock"]))
    assert seen == [1]
