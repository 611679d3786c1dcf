"""The RAPI bulk instance items encoded on the master (ganeti.query_bulk)
and the LUXI raw results that carry them."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
from config_builders import make_config, make_disks, seq_uuid
from test_query import Cfg

from ganeti import constants, errors, luxi, objects, query, query_bulk, serializer

N1, N2, N3 = "node1.example.com", "node2.example.com", "node3.example.com"


def _config() -> objects.ConfigData:
    """Several templates, NICs and disks, own and default parameters."""
    data = make_config(nodes=3, instances=[
        {"disk_template": constants.DT_DRBD8, "secondary": N2,
         "admin_up": True, "nics": 2},
        {"disk_template": constants.DT_PLAIN, "nics": 3, "admin_up": True,
         "beparams": {"maxmem": 512, "minmem": 128, "vcpus": 2}},
        {"disk_template": constants.DT_FILE, "primary": N2, "nics": 0},
        {"disk_template": constants.DT_DISKLESS, "primary": N3,
         "admin_up": True, "hvparams": {"kernel_args": "ro"}},
        {"disk_template": constants.DT_PLAIN, "primary": N2,
         "admin_up": True, "tags": ["a", "b\u00e9"]},
    ])
    data.cluster.nicparams["default"]["link"] = "br0"
    insts = sorted(data.instances.values(), key=lambda i: i.name)
    insts[1].nics[1].nicparams = {"mode": constants.NIC_MODE_ROUTED,
                                  "link": "rt1"}
    insts[1].nics[2].ip = "192.0.2.5"
    insts[1].nics[2].name = "third"
    insts[1].disks += make_disks(constants.DT_PLAIN, N1, None, None,
                                 name=insts[1].name, size=2048)
    insts[1].disks[1].iv_name = "disk/1"
    insts[1].disks[1].name = "data"
    insts[1].disks[1].uuid = seq_uuid()
    insts[0].network_port = 11000
    return data


#: inst1 and inst2 run on node1; node2 did not answer; node3 is offline.
LIVE: dict[str, Any] = {
    N1: {"inst1.example.com": {"memory": 256, "vcpus": 1},
         "inst2.example.com": {"memory": 512, "vcpus": 2}},
    N2: None}


def _old_answer(cfg: Cfg, insts: list[objects.Instance],
                live: dict[str, Any] | None) -> bytes:
    """What the RAPI answered before: rows through JSON, dictionaries of
    them with the memory alias, encoded again."""
    rows = query.run_query(query.INSTANCE_FIELDS,
                           query.instance_query_data(cfg, live), insts,
                           query_bulk.FIELDS).old_style()
    rows = serializer.loads(serializer.dumps(rows))
    return serializer.dumps(query_bulk.instance_dicts(rows))


@pytest.mark.parametrize("live", [LIVE, None], ids=["live", "no-live"])
def test_the_encoded_items_are_the_old_answer_byte_for_byte(
        live: dict[str, Any] | None) -> None:
    data = _config()
    data.nodes[N3].offline = True
    cfg = Cfg(data)
    insts = cfg.view_instances(cfg.instance_names())
    cache = query_bulk.ConfigCellCache()
    qdata = query.instance_query_data(cfg, live)
    answer = cache.encode(qdata, insts, complete=True)
    assert answer == _old_answer(cfg, insts, live)
    items = serializer.loads(answer)
    assert [set(item) for item in items] == [set(query_bulk.FIELDS)] * 5
    assert items[1]["beparams"]["memory"] == 512
    assert items[1]["nic.modes"] == ["bridged", "routed", "bridged"]
    if live is not None:
        assert [item["status"] for item in items] == [
            "running", "running", "ERROR_nodedown", "ERROR_nodeoffline",
            "ERROR_nodedown"]
    # the same again from the cache
    again = cache.encode(query.instance_query_data(cfg, live), insts,
                         complete=True)
    assert again == answer and len(cache) == 5


def test_cached_text_follows_the_configuration() -> None:
    data = _config()
    cfg = Cfg(data)
    cache = query_bulk.ConfigCellCache()

    def listing(names: list[str] | None = None) -> bytes:
        insts = cfg.view_instances(names or cfg.instance_names())
        answer = cache.encode(query.instance_query_data(cfg, LIVE), insts,
                              complete=names is None)
        assert answer == _old_answer(cfg, insts, LIVE)
        return answer

    first = listing()
    # a changed instance is a new object (as the config writer stores it)
    changed = data.instances["inst3.example.com"].copy()
    changed.tags = ["new"]
    data.instances[changed.name] = changed
    assert listing() != first
    # the cluster's defaults changed: every item is filled again
    data.cluster.beparams["default"]["vcpus"] = 4
    assert b'"vcpus":4' in listing()
    # not for a DRBD port given out (each instance creation)
    key = query_bulk.cluster_key(data.cluster)
    data.cluster.highest_used_port += 1
    data.cluster.serial_no += 1
    assert query_bulk.cluster_key(data.cluster) == key
    # a partial listing keeps the others; a complete one drops the gone
    listing(["inst1.example.com"])
    assert len(cache) == 5
    del data.instances["inst5.example.com"]
    listing()
    assert len(cache) == 4


def test_a_raw_result_travels_unchanged() -> None:
    reply = luxi.format_response(True, luxi.RawResult(b'[{"a":1}]'))
    assert luxi.parse_response(reply) == [{"a": 1}]
    assert luxi.raw_result(reply) == b'[{"a":1}]'
    assert luxi.raw_result(luxi.format_response(True, [1, 2])) == b"[1,2]"
    failed = luxi.format_response(
        False, errors.encode(errors.OpPrereqError("no such thing")))
    with pytest.raises(errors.OpPrereqError, match="no such thing"):
        luxi.raw_result(failed)
    with pytest.raises(errors.ProtocolError):
        luxi.raw_result(b'{"success":true}')


def test_no_instances_and_large_messages() -> None:
    cfg = Cfg(_config())
    answer = query_bulk.ConfigCellCache().encode(
        query.instance_query_data(cfg, LIVE), [], complete=True)
    assert answer == _old_answer(cfg, [], LIVE) == b"[]"
    # a message larger than the copy limit is sent in two writes
    big = luxi.format_response(True, luxi.RawResult(b'"%s"' % (b"x" * 300_000)))
    a, b = socket.socketpair()
    with a, b:
        sender = threading.Thread(target=luxi.Transport(a).send, args=(big,))
        sender.start()
        assert luxi.Transport(b).recv() == big
        sender.join()
