"""The HTTP resources of ``ganeti-mond`` (plain HTTP, GET and HEAD).

- ``/``: the protocol versions served (``[1]``);
- ``/1/list/collectors``: ``[[kind, category, name], ...]`` of the
  collectors that apply to this node;
- ``/1/report/all``: the reports of all of them;
- ``/1/report/<category>/<name>``: one report (``default`` is the
  category of collectors without one, e.g. ``cpu-load``);
- ``/metrics``: the Prometheus text format: this node's families, and on
  the master node the master daemon's too (fetched over LUXI, see
  ``doc/design/monitoring.rst``).

Unknown paths answer 404, other methods on known paths 405 (with
``Allow``).
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import Final

from ganeti import errors, luxi, metrics
from ganeti.http import (
    HTTP_METHOD_NOT_ALLOWED,
    HTTP_NOT_FOUND,
    HttpError,
    Request,
    Response,
    json_response,
)
from ganeti.mond import collectors
from ganeti.mond.node_metrics import node_metrics
from ganeti.mond.sources import Sources

PROTOCOL_VERSIONS: Final = [1]
_ALLOWED: Final = ("GET", "HEAD")
#: Seconds a scrape waits for the master daemon's metrics.
MASTER_TIMEOUT: Final = 10.0
_log = logging.getLogger("ganeti.mond")

#: Returns the master daemon's exposition text (raises when it cannot).
MasterFetch = Callable[[], str]


def luxi_fetch(socket_path: str | None = None,
               timeout: float = MASTER_TIMEOUT) -> MasterFetch:
    """Fetch the master daemon's metrics over its LUXI socket."""
    def fetch() -> str:
        client = luxi.Client(socket_path, timeout=timeout)
        try:
            return str(client.call("QueryMetrics"))
        finally:
            client.close()
    return fetch


def _master_part(fetch: MasterFetch) -> str:
    """The master daemon's families plus whether fetching them worked."""
    up = metrics.Gauge("ganeti_mond_master_scrape_success",
                       "Whether the master daemon's metrics could be "
                       "fetched by this scrape")
    duration = metrics.Gauge("ganeti_mond_master_scrape_duration_seconds",
                             "Seconds fetching the master daemon's "
                             "metrics took")
    start = time.monotonic()
    try:
        text = fetch()
    except errors.GenericError as err:
        _log.warning("Cannot fetch the master daemon's metrics: %s", err)
        text = ""
        up.set(0)
    else:
        up.set(1)
    duration.set(round(time.monotonic() - start, 6))
    return text + metrics.render([up, duration])


class MondApp:
    """Request -> Response for the monitoring daemon."""

    def __init__(self, sources: Sources,
                 master_fetch: MasterFetch | None = None,
                 collector_table: tuple[collectors.Collector, ...] =
                 collectors.COLLECTORS) -> None:
        self.sources = sources
        self.master_fetch = master_fetch or luxi_fetch()
        self.collectors = collector_table

    def __call__(self, request: Request) -> Response:
        path = urllib.parse.urlsplit(request.path).path.rstrip("/") or "/"
        handler = self._route(path)
        if request.method not in _ALLOWED:
            raise HttpError(HTTP_METHOD_NOT_ALLOWED,
                            f"Method {request.method[:20]} not allowed on "
                            f"{path[:80]} (use GET)",
                            headers={"Allow": ", ".join(_ALLOWED)})
        return handler()

    def _route(self, path: str) -> Callable[[], Response]:
        if path == "/":
            return lambda: json_response(PROTOCOL_VERSIONS)
        if path == "/metrics":
            return self.metrics
        if path == "/1/list/collectors":
            return lambda: json_response(
                [[c.kind, c.category, c.name]
                 for c in collectors.active(self.sources, self.collectors)])
        if path == "/1/report/all":
            return lambda: json_response(
                [collectors.report(c, self.sources)
                 for c in collectors.active(self.sources, self.collectors)])
        parts = path.split("/")
        if len(parts) == 5 and parts[:3] == ["", "1", "report"]:
            for collector in collectors.active(self.sources, self.collectors):
                if (collector.path_category, collector.name) == \
                        (parts[3], parts[4]):
                    return lambda: json_response(
                        collectors.report(collector, self.sources))
            raise HttpError(HTTP_NOT_FOUND,
                            f"No collector {parts[4][:60]!r} in category "
                            f"{parts[3][:60]!r} on this node")
        raise HttpError(HTTP_NOT_FOUND, f"No resource {path[:80]!r}")

    def metrics(self) -> Response:
        text = node_metrics(self.sources)
        if self.sources.is_master():
            text += _master_part(self.master_fetch)
        return Response(body=text.encode("utf-8"),
                        content_type=metrics.CONTENT_TYPE)
