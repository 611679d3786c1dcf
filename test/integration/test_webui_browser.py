"""The web console in a real browser: headless Chromium driven through
WebDriver (chromedriver) against a local cluster's RAPI (fake
hypervisor).  A write user logs in, sees the nodes and instances, stops
and starts an instance and sees its jobs finish; a read user is refused
the action by the RAPI; markup in data shows as text; the console page
of a fake-hypervisor instance says it has no VNC console; a form another
site submits cannot act.  Screenshots go to
``build/test-artifacts/webui/`` (emptied per run)."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import webdriver
from testkit import basic_auth

from ganeti.localcluster import LocalCluster
from ganeti.rapi import users

if TYPE_CHECKING:  # imported at run time as a plugin (assertion rewriting)
    from rapi_cluster_support import Rapi

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def browser_session() -> webdriver.Browser:
    if not webdriver.available():
        pytest.skip("needs chromium and chromium-driver")
    return webdriver.Browser()
pytest_plugins = ["rapi_cluster_support"]

READER = ("viewer", "read-pw")
INSTANCE = "web1.example.com"
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" \
    / "webui"


@pytest.fixture(scope="module")
def artifacts() -> Path:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def web_cluster(rapi_cluster: LocalCluster, rapi: Rapi) -> LocalCluster:
    """The cluster with a reader and a running instance."""
    users.write_users_file(rapi_cluster.node(1).paths.rapi_users_file,
                           [(*rapi.writer, ["write"]), (*READER, ["read"])])
    rapi.run("POST", "/2/instances",
             rapi.create_body(INSTANCE, rapi_cluster.node(1).name))
    return rapi_cluster


def ui_url(cluster: LocalCluster, user: tuple[str, str],
           page: str = "") -> str:
    """The console's URL with the user's credentials in it: Chromium
    answers the Basic challenge with them and keeps them for the realm."""
    name, password = (urllib.parse.quote(part, safe="") for part in user)
    return (f"https://{name}:{password}@{cluster.node(1).ip}:"
            f"{cluster.rapi_port}/ui/{page}")


@pytest.fixture
def writer_browser(web_cluster: LocalCluster, rapi: Rapi
                   ) -> Iterator[webdriver.Browser]:
    with browser_session() as browser:
        browser.get(ui_url(web_cluster, rapi.writer))
        yield browser


@pytest.fixture
def reader_browser(web_cluster: LocalCluster) -> Iterator[webdriver.Browser]:
    with browser_session() as browser:
        browser.get(ui_url(web_cluster, READER))
        yield browser


def go(browser: webdriver.Browser, hash_path: str) -> None:
    browser.execute("location.hash = arguments[0];", hash_path)


def test_overview_and_instance_actions(writer_browser: webdriver.Browser,
                                       web_cluster: LocalCluster, rapi: Rapi,
                                       artifacts: Path) -> None:
    browser = writer_browser
    node1 = web_cluster.node(1).name
    browser.wait_text("#nodes", node1)
    assert web_cluster.node(2).name in browser.text("#nodes")
    browser.wait_text("#instances", INSTANCE)
    assert "running: 1" in browser.text("#instance-counts")
    assert browser.execute(
        "return document.querySelectorAll('#nodes progress').length") >= 2
    browser.screenshot(artifacts / "overview.png")

    go(browser, f"#/instance/{INSTANCE}")
    browser.wait_text("#instance-state", "running")
    assert "disk/0" in browser.text("#disks")
    assert "nic/0" in browser.text("#nics")
    browser.click("#action-shutdown")
    browser.wait_text("#job-status", "success")
    browser.wait_text("#instance-state", "stopped")
    assert rapi.get(f"/2/instances/{INSTANCE}")["oper_state"] is False
    browser.click("#action-startup")
    browser.wait_text("#job-status", "success")
    browser.wait_text("#instance-state", "running")
    browser.screenshot(artifacts / "instance.png")

    go(browser, "#/jobs")
    browser.wait_text("#jobs", "INSTANCE_STARTUP")
    assert "INSTANCE_SHUTDOWN" in browser.text("#jobs")
    go(browser, f"#/node/{node1}")
    browser.wait_text("#node-instances", INSTANCE)


def test_reader_is_refused_actions(reader_browser: webdriver.Browser,
                                   rapi: Rapi, artifacts: Path) -> None:
    browser = reader_browser
    go(browser, f"#/instance/{INSTANCE}")
    browser.wait_text("#instance-state", "running")
    jobs_before = len(rapi.get("/2/jobs"))
    browser.click("#action-shutdown")
    message = browser.wait_text("#message", "HTTP 403")
    assert READER[0] in message
    browser.screenshot(artifacts / "reader-refused.png")
    assert len(rapi.get("/2/jobs")) == jobs_before
    assert rapi.get(f"/2/instances/{INSTANCE}")["oper_state"] is True


def test_markup_in_data_shows_as_text(writer_browser: webdriver.Browser,
                                      rapi: Rapi) -> None:
    """The RAPI refuses markup in tags, names and OS names (400), and its
    error message, which repeats the input, shows as text."""
    markup = "<img src=x onerror=\"window.pwned=1\"><b>bold</b>"
    quoted = urllib.parse.quote(markup, safe="")
    assert rapi.request("PUT", f"/2/instances/{INSTANCE}/tags?tag={quoted}",
                        user=rapi.writer)[0] == 400
    assert rapi.request("POST", "/2/instances", rapi.create_body(
        "web2.example.com", rapi.cluster.node(1).name, os=markup),
        user=rapi.writer)[0] == 400
    browser = writer_browser
    go(browser, f"#/instance/{quoted}")
    assert markup in browser.wait_text("#load-error", "Cannot load")
    assert browser.execute(
        "return [document.querySelectorAll('main img, main b').length,"
        " window.pwned === undefined]") == [0, True]


def test_console_page_without_vnc(writer_browser: webdriver.Browser,
                                  web_cluster: LocalCluster,
                                  artifacts: Path) -> None:
    browser = writer_browser
    browser.get(f"https://{web_cluster.node(1).ip}:{web_cluster.rapi_port}"
                f"/ui/console.html?instance={INSTANCE}")
    browser.wait_text("#console-status", "has no VNC console")
    browser.screenshot(artifacts / "console-fake.png")


class _Attacker(http.server.BaseHTTPRequestHandler):
    """Another site: a page whose form posts to the RAPI by itself."""

    target = ""

    def do_GET(self) -> None:
        page = (f'<form id="f" method="POST" enctype="text/plain" '
                f'action="{self.target}"><input name="a" value="b"></form>'
                '<script>document.getElementById("f").submit()</script>')
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_cross_site_form_post_is_refused(writer_browser: webdriver.Browser,
                                         web_cluster: LocalCluster,
                                         rapi: Rapi) -> None:
    _Attacker.target = (f"https://{web_cluster.node(1).ip}:"
                        f"{web_cluster.rapi_port}/2/instances/{INSTANCE}"
                        "/reboot")
    server = http.server.HTTPServer(("127.0.0.1", 0), _Attacker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    jobs_before = len(rapi.get("/2/jobs"))
    try:
        browser = writer_browser
        browser.wait_text("#instances", INSTANCE)  # credentials cached
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        text = browser.wait_for("the RAPI's answer to the form", lambda: (
            browser.execute("return location.pathname.endsWith('/reboot')"
                            " && document.body.textContent")))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    answer = json.loads(text)
    assert answer["code"] == 403 and "Cross-site" in answer["explain"]
    assert len(rapi.get("/2/jobs")) == jobs_before


def test_pages_and_websocket_refused_without_a_user(web_cluster: LocalCluster,
                                                    rapi: Rapi) -> None:
    """Over the real HTTPS server: the files need a user, the VNC
    websocket a writer; a writer reaches the console job, which says the
    fake instance has no VNC server."""
    assert rapi.request("GET", "/ui/")[0] == 401
    conn = rapi.connection()
    try:
        conn.request("GET", "/ui/app.js",
                     headers={"Authorization": basic_auth(READER)})
        answer = conn.getresponse()
        assert answer.status == 200 and b"textContent" in answer.read()
        assert answer.getheader("Content-Type", "").startswith(
            "text/javascript")
    finally:
        conn.close()
    upgrade = {"Upgrade": "websocket", "Connection": "Upgrade",
               "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    path = f"/ui/vnc/{INSTANCE}"
    assert rapi.request("GET", path, headers=upgrade)[0] == 401
    assert rapi.request("GET", path, headers=upgrade, user=READER)[0] == 403
    status, body, _ = rapi.request("GET", path, headers=upgrade,
                                   user=rapi.writer)
    assert status == 409 and "no VNC console" in body["explain"], body


def test_a_page_whose_scripts_fail_to_load_reloads_once_then_says_so(
        writer_browser: webdriver.Browser) -> None:
    """boot.js: a module of the page that cannot be fetched (here one
    that does not exist; in life a request aborted by a network change)
    reloads the page once; failing again within 10 s, the page says so
    instead of staying at "Loading…"."""
    browser = writer_browser
    browser.wait_text("#nodes", "node")
    inject = ("const s = document.createElement('script');"
              "s.type = 'module'; s.src = 'missing-module.js';"
              "document.head.append(s);")
    # An automatic reload of this page in the last 10 s (a module load
    # aborted by a network change made by another test) would make the
    # first failure below "again within 10 s": start from none.
    browser.execute("sessionStorage.clear(); window.beforeReload = true;"
                    + inject)
    browser.wait_for("the page reloaded", lambda: browser.execute(
        "return window.beforeReload === undefined"
        " && document.readyState === 'complete';"))
    browser.wait_text("#nodes", "node")  # the page works after the reload
    assert not browser.execute(
        "return !document.getElementById('message').hidden;")
    browser.execute("window.beforeReload = true;" + inject)
    browser.wait_text("#message", "could not be loaded")
    assert browser.execute("return window.beforeReload === true;")
