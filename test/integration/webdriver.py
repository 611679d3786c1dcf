"""A small W3C WebDriver client driving headless Chromium (Debian's
chromium and chromium-driver) over http.client, for the web console's
browser tests.

:class:`Browser` starts ``chromedriver --port=0`` (it prints the port it
chose), opens one session with a fresh ``--user-data-dir`` and the flags
that work in this environment, and on :meth:`Browser.close` ends the
session, stops chromedriver and waits for it, and removes its temporary
directory: no chromium process or directory survives a test.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         "--window-size=1280,900"]
#: The W3C id of an element in a response.
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"
WAIT = 60.0
#: Navigations tried before a page that does not load is an error.
NAVIGATIONS = 3


class WebDriverError(Exception):
    pass


def available() -> bool:
    return os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)


class Browser:
    """One headless Chromium session (see the module doc)."""

    def __init__(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="ganeti-chromium-")
        self.log = open(  # noqa: SIM115 - closed by close()
            os.path.join(self.tmp, "chromedriver.log"), "w+b")
        self.driver = subprocess.Popen(
            [CHROMEDRIVER, "--port=0"], stdout=subprocess.PIPE,
            stderr=self.log, start_new_session=True)
        self.session: str | None = None
        try:
            self.port = self._read_port()
            flags = [*FLAGS, f"--user-data-dir={self.tmp}/profile"]
            # The cluster's RAPI certificate is self-signed: accepted for
            # this session only (acceptInsecureCerts).
            caps = {"capabilities": {"alwaysMatch": {
                "browserName": "chrome", "acceptInsecureCerts": True,
                "goog:chromeOptions": {"binary": CHROMIUM, "args": flags}}}}
            value = self._call("POST", "/session", caps)
            self.session = value["sessionId"]
        except BaseException:
            self.close()
            raise

    def _read_port(self) -> int:
        assert self.driver.stdout is not None
        for _ in range(20):
            line = self.driver.stdout.readline().decode(errors="replace")
            if not line:
                break
            found = re.search(r"started successfully on port (\d+)", line)
            if found:
                return int(found.group(1))
        raise WebDriverError("chromedriver did not report its port")

    # --- protocol --------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, data,
                         {"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = json.loads(resp.read() or b"{}")
        finally:
            conn.close()
        value = answer.get("value")
        if resp.status != 200:
            message = value.get("message", "") if isinstance(value, dict) \
                else str(value)
            raise WebDriverError(f"{method} {path}: {resp.status} "
                                 f"{message.splitlines()[0] if message else ''}")
        return value

    def _s(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, f"/session/{self.session}{path}", body)

    # --- commands --------------------------------------------------------

    def get(self, url: str) -> None:
        """Navigate to ``url``.  A navigation Chromium aborted because it
        saw the machine's network change (ERR_NETWORK_CHANGED: other
        tests add and remove interfaces, taps and namespaces while this
        one runs) lands on an error page: navigate again, up to
        :data:`NAVIGATIONS` times."""
        for attempt in range(NAVIGATIONS):
            self._s("POST", "/url", {"url": url})
            if not str(self.execute("return location.href")).startswith(
                    "chrome-error:"):
                return
            if attempt + 1 < NAVIGATIONS:
                time.sleep(1)
        page = self.execute("return document.body.innerText")
        raise AssertionError(f"Cannot load {url}: {page!r:.300}")

    def execute(self, script: str, *args: Any) -> Any:
        return self._s("POST", "/execute/sync", {"script": script,
                                                 "args": list(args)})

    def execute_async(self, script: str, *args: Any) -> Any:
        """``script`` gets its arguments then a callback, as WebDriver's."""
        return self._s("POST", "/execute/async", {"script": script,
                                                  "args": list(args)})

    def find(self, css: str) -> str:
        value = self._s("POST", "/element",
                        {"using": "css selector", "value": css})
        return str(value[ELEMENT_KEY])

    def click(self, css: str) -> None:
        self._s("POST", f"/element/{self.find(css)}/click", {})

    def text(self, css: str) -> str:
        return str(self._s("GET", f"/element/{self.find(css)}/text"))

    def wait_for(self, what: str, check: Callable[[], Any],
                 timeout: float = WAIT) -> Any:
        """Poll ``check`` (a page query) until it answers a true value.
        Polling is the only way to observe a page from outside; the
        timeout only bounds a failing test."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = check()
            except WebDriverError as err:
                last = err
            else:
                if last:
                    return last
            time.sleep(0.1)
        raise AssertionError(f"Timed out waiting for {what}; last: {last!r}")

    def wait_text(self, css: str, expected: str,
                  timeout: float = WAIT) -> str:
        """Wait until the element ``css`` exists and its text holds
        ``expected``; its text."""
        def check() -> str | None:
            text = self.execute(
                "const e = document.querySelector(arguments[0]);"
                "return e ? e.textContent : null;", css)
            return text if text is not None and expected in text else None
        try:
            return str(self.wait_for(f"{expected!r} in {css}", check,
                                     timeout))
        except AssertionError as err:
            page = self.execute("return document.body.innerText")
            raise AssertionError(f"{err}; the page shows: {page!r:.2000}"
                                 ) from None

    def screenshot(self, path: Path) -> None:
        data = self._s("GET", "/screenshot")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        """End the session, chromedriver and every process it started
        (its session group), and remove the temporary directory."""
        if self.session is not None:
            with contextlib.suppress(OSError, WebDriverError):
                self._call("DELETE", f"/session/{self.session}")
            self.session = None
        if self.driver.poll() is None:
            self.driver.terminate()
            try:
                self.driver.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.driver.kill()
                self.driver.wait()
        # chromium runs in chromedriver's session (process group): any
        # straggler left there is stopped by the group id.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.driver.pid, signal.SIGKILL)
        if self.driver.stdout is not None:
            self.driver.stdout.close()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
