"""What unit and integration tests share: a bounded wait for a condition,
a fake clock, running a check without root, a JSON request over HTTP.

Importable as ``testkit`` from every test module (pyproject.toml puts
``test`` on pytest's ``pythonpath``).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import pwd
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest

#: Bound on a wait for something that is expected to happen.  Generous: a
#: loaded 2-CPU machine must not turn a wait into a failure; a test that
#: passes never waits this long.
WAIT = 60.0


def wait_for(cond: Callable[[], Any], what: str, timeout: float = WAIT,
             interval: float = 0.02) -> Any:
    """Poll ``cond`` until it returns something true, and return that;
    fail the test after ``timeout`` seconds saying what was awaited.

    For states another process or thread reaches (a daemon that listens,
    a file that appears); a wait, not a measurement.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out waiting for {what}")
        time.sleep(interval)


class FakeClock:
    """Time under the test's control: it moves when the code under test
    sleeps (or when the test moves it), never by itself.

    Pass ``clock.time`` (or the clock itself: calling it reads the time)
    and ``clock.sleep`` where the code takes a clock and a sleep function.
    ``sleeps`` records every sleep; ``on_sleep``, if set, is called with
    the number of sleeps so far after each one (to change the world at a
    chosen point of a wait).
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], None] | None = None

    def time(self) -> float:
        return self.now

    __call__ = time

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0, f"negative sleep: {seconds}"
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))

    @property
    def slept(self) -> float:
        """Seconds spent sleeping so far."""
        return sum(self.sleeps)


def run_unprivileged(fn: Callable[[str], None], user: str = "nobody") -> None:
    """Run ``fn(directory)`` in a forked child that has dropped root for
    ``user`` (and that user's group, no supplementary groups), in a new
    directory the user owns; fail the test with the child's traceback if
    ``fn`` raised.  For checks of what an unprivileged process may not do,
    when the tests themselves run as root (as in CI).
    """
    entry = pwd.getpwnam(user)
    directory = tempfile.mkdtemp(prefix="unprivileged-")
    try:
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = 1
            try:
                os.close(reader)
                os.setgroups([])
                os.setgid(entry.pw_gid)
                os.setuid(entry.pw_uid)
                fn(directory)
                code = 0
            except BaseException:
                os.write(writer, traceback.format_exc().encode())
            finally:
                os._exit(code)
        os.close(writer)
        with os.fdopen(reader, "rb") as report:
            failure = report.read().decode()
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            pytest.fail(f"as {user}: {failure or 'the child died'}",
                        pytrace=False)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def basic_auth(user: tuple[str, str]) -> str:
    """The ``Authorization`` header value for HTTP Basic authentication."""
    return "Basic " + base64.b64encode(":".join(user).encode()).decode()


def json_exchange(conn: http.client.HTTPConnection, method: str, path: str,
                  data: bytes | None, headers: dict[str, str]
                  ) -> tuple[int, Any, dict[str, str]]:
    """One request on ``conn``, which is closed afterwards: the status, the
    body decoded from JSON (None when empty) and the response headers."""
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        return (response.status, json.loads(payload) if payload else None,
                dict(response.getheaders()))
    finally:
        conn.close()


def make_unbuilt(monkeypatch: Any, name: str) -> None:
    """Make hypervisor ``name`` one whose driver is not in this build
    (its module points nowhere), for the tests of that refusal."""
    from ganeti import hypervisor

    monkeypatch.setitem(hypervisor.DRIVERS, name, (
        f"ganeti.hypervisor.not_built_{name.replace('-', '_')}", "Driver"))
