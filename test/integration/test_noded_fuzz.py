"""Hypothesis against a live ``ganeti-noded``, as the master: HTTPS with
the cluster certificate, ``PUT /<call>`` with bodies built from each
call's row in :data:`ganeti.rpc.defs.CALLS`, plus bodies that are not
JSON and paths that name no call.

Every request must get an answer (no hang, no dropped connection) of the
RPC shape ``[success, payload]``; a body the row's checks refuse must get
``[false, message]``; afterwards the daemon is the same process with no
traceback in its log.  Calls whose valid use changes the node (or sleeps)
are sent only with arguments their row refuses.
"""

from __future__ import annotations

import http.client
import json
import urllib.parse
from typing import TYPE_CHECKING, Any

import pytest
from fuzz_support import FUZZ_SETTINGS, argument_lists
from hypothesis import given
from hypothesis import strategies as st

from ganeti import constants, crypto
from ganeti.http import tls
from ganeti.localcluster import LocalCluster
from ganeti.rpc import defs

if TYPE_CHECKING:  # imported at run time as a plugin (assertion rewriting)
    from fuzz_cluster_support import Watch

pytestmark = pytest.mark.integration
pytest_plugins = ["fuzz_cluster_support"]

#: Calls that only read: fuzzed with any arguments.
READ_ONLY = frozenset([
    "all_instances_info", "blockdev_find", "blockdev_getmirrorstatus",
    "blockdev_getsizes", "bridges_exist", "export_info", "export_list",
    "fingerprint_files", "instance_console_info",
    "instance_get_migration_status", "instance_info", "instance_list",
    "instance_migratable", "master_info", "migration_info", "node_info",
    "node_volumes", "os_diagnose", "os_get", "storage_list",
    "transfer_progress", "version",
])
TIMEOUT = 120.0


def put(cluster: LocalCluster, path: str, body: bytes) -> tuple[int, Any]:
    """One call as the master makes it; (status, decoded answer)."""
    node = cluster.node(1)
    cert_file = node.paths.noded_cert_file
    _key, cert_pem = crypto.load_pem_file(cert_file)
    conn = http.client.HTTPSConnection(
        node.ip, constants.DEFAULT_NODED_PORT, timeout=TIMEOUT,
        context=tls.client_context(cert_pem, cert_file=cert_file))
    try:
        conn.request("PUT", path, body=body,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def refused_by_row(name: str, args: Any) -> bool:
    spec = defs.CALLS[name]
    return not (isinstance(args, list) and len(args) == len(spec.args)
                and all(a.check(v) for a, v in zip(spec.args, args,
                                                   strict=True)))


def check_answer(status: int, answer: Any, must_fail: bool) -> None:
    assert status == 200, (status, answer)
    assert isinstance(answer, list) and len(answer) == 2, answer
    assert isinstance(answer[0], bool), answer
    if must_fail:
        assert answer[0] is False and isinstance(answer[1], str), answer
        assert "\n" not in answer[1] and answer[1], answer


@pytest.mark.parametrize("name", sorted(defs.CALLS))
@FUZZ_SETTINGS
@given(data=st.data())
def test_call_arguments(cluster: LocalCluster, watch: Watch, name: str,
                        data: st.DataObject) -> None:
    args = data.draw(argument_lists([a.check for a in defs.CALLS[name].args]))
    refused = refused_by_row(name, args)
    if not refused and name not in READ_ONLY:
        return  # a valid call that would change the node under test
    status, answer = put(cluster, f"/{name}", json.dumps(args).encode())
    check_answer(status, answer, refused)
    watch.check()


@FUZZ_SETTINGS
@given(st.binary(max_size=300), st.sampled_from(sorted(READ_ONLY)))
def test_bodies_that_are_not_json(cluster: LocalCluster, watch: Watch,
                                  body: bytes, name: str) -> None:
    try:
        args = json.loads(body)
    except ValueError:
        args = None
    status, answer = put(cluster, f"/{name}", body)
    check_answer(status, answer, args is None or refused_by_row(name, args))
    watch.check()


@FUZZ_SETTINGS
@given(st.text(max_size=80))
def test_paths_naming_no_call(cluster: LocalCluster, watch: Watch,
                              path: str) -> None:
    if path.lstrip("/") in defs.CALLS:
        return
    quoted = "/" + urllib.parse.quote(path, safe="/_-.")
    status, answer = put(cluster, quoted, b"[]")
    assert status in (200, 400, 404), (status, answer)
    assert isinstance(answer, list) and answer[0] is False, answer
    watch.check()
