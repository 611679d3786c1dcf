"""Schemathesis against a live ``ganeti-rapi``, driven by the generated
OpenAPI description (doc/rapi-openapi.json).

Each operation gets :data:`fuzz_support.EXAMPLES` requests, valid and
invalid ones (schemathesis' positive and negative generation), sent as
the ``write`` user; every write carries ``dry-run=1`` unless the case
fuzzes that argument, so that a valid request checks the operation on
the cluster without changing it.  Checked: no 5xx and no dropped
connection, a 4xx for every request outside the schema, every answer
matching the schema; afterwards the daemons are the same processes and
their logs hold no traceback.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
import schemathesis
import urllib3
from fuzz_support import FUZZ_SETTINGS
from schemathesis import checks as st_checks
from testkit import basic_auth

from ganeti.localcluster import LocalCluster

if TYPE_CHECKING:  # imported at run time as plugins (assertion rewriting)
    from fuzz_cluster_support import Watch
    from rapi_cluster_support import Rapi

pytestmark = pytest.mark.integration
pytest_plugins = ["rapi_cluster_support", "fuzz_cluster_support"]

SPEC = Path(__file__).resolve().parents[2] / "doc" / "rapi-openapi.json"
schema = schemathesis.openapi.from_path(str(SPEC))

#: What is checked.  Left out: positive_data_acceptance (a valid request
#: about an instance that does not exist is rightly a 404) and the checks
#: that need a resource created first (use_after_free and the like).
CHECKS = [st_checks.not_a_server_error, st_checks.status_code_conformance,
          st_checks.content_type_conformance,
          st_checks.response_schema_conformance,
          st_checks.negative_data_rejection]


@pytest.fixture(scope="module")
def session(rapi: Rapi) -> Iterator[requests.Session]:
    with requests.Session() as sess:
        sess.verify = False  # loopback; the certificate names no host
        sess.headers["Authorization"] = basic_auth(rapi.writer)
        yield sess


@pytest.fixture(scope="module")
def watch(rapi_cluster: LocalCluster) -> Watch:
    from fuzz_cluster_support import Watch
    return Watch(rapi_cluster)


def _dry_run(case: Any) -> None:
    """Every write a dry run, unless the case fuzzes the argument."""
    query = dict(case.query or {})
    try:
        int(query.get("dry-run", 0))
    except (TypeError, ValueError):
        return
    if case.method != "GET":
        query["dry-run"] = 1
        case.query = query


@schema.parametrize()
@FUZZ_SETTINGS
def test_rapi_answers_match_the_schema(case: Any, rapi: Rapi,
                                       session: requests.Session,
                                       watch: Watch) -> None:
    _dry_run(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
        response = case.call(base_url=f"https://{rapi.host}:{rapi.port}",
                             session=session, timeout=120,
                             verify=False)
    case.validate_response(response, checks=CHECKS)
    watch.check()
