"""ganeti-mond's HTTP resources, served by the real HTTP server on
loopback: Ganeti's paths, /metrics, 404 and 405."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import config_builders as cb
import pytest
from metrics_check import promtool_check, value
from mond_support import World, make_world

from ganeti import errors
from ganeti.http import server as http_server
from ganeti.mond.app import MondApp


class Served:
    def __init__(self, world: World, master_text: list[str | None]) -> None:
        self.world = world
        #: What the master daemon answers (None: it is down).
        self.master_text = master_text

        def fetch() -> str:
            text = self.master_text[0]
            if text is None:
                raise errors.LuxiError("master daemon not running")
            return text

        self.server = http_server.HttpServer(("127.0.0.1", 0),
                                             MondApp(world.sources, fetch))
        self.server.start()

    def request(self, method: str, path: str) -> tuple[int, dict[str, str],
                                                         bytes]:
        conn = http.client.HTTPConnection(*self.server.address, timeout=30)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def get_json(self, path: str) -> Any:
        status, _, body = self.request("GET", path)
        assert status == 200, body
        return json.loads(body)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    srv = Served(make_world(tmp_path), [
        "# HELP ganeti_config_serial Serial\n# TYPE ganeti_config_serial "
        "gauge\nganeti_config_serial 7\n"])
    yield srv
    srv.server.stop()


def test_root_and_list_of_collectors(served: Served) -> None:
    assert served.get_json("/") == [1]
    assert served.get_json("/1/list/collectors") == [
        [0, None, "cpu-load"], [0, "storage", "diskstats"],
        [1, "instance", "inst-status"], [0, "storage", "lv"]]


def test_report_all_and_one(served: Served) -> None:
    reports = served.get_json("/1/report/all")
    assert [r["name"] for r in reports] == ["cpu-load", "diskstats",
                                            "inst-status", "lv"]
    one = served.get_json("/1/report/storage/diskstats")
    assert one["name"] == "diskstats" and one["category"] == "storage"
    assert served.get_json("/1/report/default/cpu-load")["kind"] == 0
    assert served.get_json("/1/report/instance/inst-status?x=1")[
        "data"]["status"]["code"] == 1


def test_failing_collector_keeps_the_others(served: Served) -> None:
    (served.world.proc / "diskstats").unlink()
    reports = {r["name"]: r for r in served.get_json("/1/report/all")}
    assert reports["diskstats"]["data"]["status"]["code"] == 2
    assert reports["cpu-load"]["data"]["cpu_number"] == 2


@pytest.mark.parametrize("path", ["/nope", "/1/report/storage/nope",
                                  "/1/report/instance/diskstats",
                                  "/1/report/storage/drbd", "/2/list/x",
                                  "/1/report/storage/diskstats/more"])
def test_unknown_paths_are_404(served: Served, path: str) -> None:
    status, _, body = served.request("GET", path)
    assert status == 404
    assert json.loads(body)["code"] == 404


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize("path", ["/metrics", "/1/report/all", "/"])
def test_other_methods_are_405(served: Served, method: str, path: str) -> None:
    status, headers, body = served.request(method, path)
    assert status == 405
    assert headers["Allow"] == "GET, HEAD"
    assert "not allowed" in json.loads(body)["message"]


def test_metrics_on_a_node_and_on_the_master(served: Served) -> None:
    served.world.start(cb.instance_name(1))
    status, headers, body = served.request("GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    promtool_check(text)
    # The world's node is the master: the master daemon's part follows.
    assert value(text, "ganeti_config_serial") == 7
    assert value(text, "ganeti_mond_master_scrape_success") == 1
    assert value(text, "ganeti_instance_running",
                 name=cb.instance_name(1)) == 1
    served.master_text[0] = None  # the master daemon is down
    text = served.request("GET", "/metrics")[2].decode()
    promtool_check(text)
    assert value(text, "ganeti_mond_master_scrape_success") == 0
    assert value(text, "ganeti_node_cpus") == 2


def test_metrics_of_a_non_master_node_have_no_master_part(
        served: Served) -> None:
    served.world.sources.node_name = cb.node_name(2)
    text = served.request("GET", "/metrics")[2].decode()
    promtool_check(text)
    assert "ganeti_mond_master_scrape_success" not in text
    assert value(text, "ganeti_instance_running",
                 name=cb.instance_name(5)) == 0
