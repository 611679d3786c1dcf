"""The items of RAPI ``/2/instances?bulk=1``, encoded on the master.

The bulk listing used to travel as rows of :data:`FIELDS` (the master
encoded them, ganeti-rapi decoded them, made dictionaries of them and
encoded those again: at 10,000 instances a third of the listing's CPU
time).  Now the master answers LUXI ``QueryInstancesBulk`` with the
final JSON text (:class:`ganeti.luxi.RawResult`) and ganeti-rapi sends
those bytes as the body unchanged.

Most of an item does not change between listings: of its 35 keys only
``oper_ram``, ``oper_state``, ``oper_vcpus`` and ``status`` come from
the nodes.  The encoded text of the other keys (in the encoder's sorted
key order, they form three runs) is kept per instance in
:data:`CACHE`, valid while the stored instance object is the same (the
configuration writer replaces an instance's object on every change) and
the cluster's fields but the serial number, mtime and DRBD port
bookkeeping are (the filled parameters come from the cluster's
defaults; :func:`cluster_key`).  The cache holds one tuple of byte strings
per instance (about 1.5 KiB at the benchmark's diskless instances with
one NIC); a listing of every instance drops the entries of the instances
that are gone.

The text is the same, byte for byte, as ``serializer.dumps`` of
:func:`instance_dicts` of the rows (``test/unit/test_query_bulk.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Final

from ganeti import objects, params, query, serializer

#: Fields of ``/2/instances?bulk=1`` and ``/2/instances/X`` (current
#: Ganeti's: 2.1's plus the names, UUIDs, networks and spindles).
FIELDS: Final = ["name", "admin_state", "os", "pnode", "snodes",
                 "disk_template", "nic.ips", "nic.macs", "nic.modes",
                 "nic.uuids", "nic.names", "nic.links", "nic.networks",
                 "nic.networks.names", "nic.bridges", "network_port",
                 "disk.sizes", "disk.spindles", "disk_usage", "disk.uuids",
                 "disk.names", "beparams", "hvparams", "oper_state",
                 "oper_ram", "oper_vcpus", "status", "custom_hvparams",
                 "custom_beparams", "custom_nicparams",
                 "ctime", "mtime", "uuid", "serial_no", "tags"]


def add_memory_alias(item: dict[str, Any]) -> dict[str, Any]:
    """``beparams`` carries Ganeti 2.6's ``maxmem`` and ``minmem`` and,
    for clients written for 2.1, ``memory`` (the ``maxmem``)."""
    be = item.get("beparams")
    if isinstance(be, dict) and "maxmem" in be:
        be.setdefault(params.BE_MEMORY, be["maxmem"])
    return item


def instance_dicts(rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows of :data:`FIELDS` as the RAPI answers them."""
    return [add_memory_alias(dict(zip(FIELDS, row, strict=True)))
            for row in rows]


@dataclasses.dataclass(frozen=True)
class _Run:
    """Consecutive keys (in sorted order) that are all live or all not."""

    live: bool
    names: tuple[str, ...]
    fdefs: tuple[query.FieldDef, ...]


def _runs(names: Sequence[str]) -> tuple[_Run, ...]:
    runs: list[tuple[bool, list[str]]] = []
    for name in sorted(names):
        live = query.instance_needs_live([name])
        if runs and runs[-1][0] == live:
            runs[-1][1].append(name)
        else:
            runs.append((live, [name]))
    return tuple(_Run(live, tuple(group),
                      tuple(query.INSTANCE_FIELDS.resolve(group)))
                 for live, group in runs)


_RUNS: Final = _runs(FIELDS)


#: The live fields of all live runs, in order, and the runs' places.
_LIVE_FDEFS: Final = tuple(f for run in _RUNS if run.live for f in run.fdefs)
_LIVE_SLOTS: Final = tuple(i for i, run in enumerate(_RUNS) if run.live)


def _members(values: dict[str, Any]) -> bytes:
    """``"key":value,...``: the encoded object without its braces."""
    return serializer.dumps(values)[1:-1]


def _live_runs(values: Sequence[Any]) -> tuple[bytes, ...]:
    """The encoded live runs of an item from the values of
    :data:`_LIVE_FDEFS`."""
    texts = []
    rest = iter(values)
    for run in _RUNS:
        if run.live:
            texts.append(_members({name: next(rest) for name in run.names}))
    return tuple(texts)


#: Cluster fields that change with instance creations (DRBD ports) and
#: that no item depends on.
_VOLATILE: Final = frozenset(["serial_no", "mtime", "highest_used_port",
                              "tcpudp_port_pool"])


def cluster_key(cluster: objects.Cluster) -> bytes:
    """The part of the cluster that items can depend on (the defaults
    their filled parameters come from), encoded: the cached items stay
    valid while it is the same."""
    return serializer.dumps({k: v for k, v in cluster.to_dict().items()
                             if k not in _VOLATILE})


class ConfigCellCache:
    """Instance UUID -> (stored instance, cluster key, encoded runs)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[objects.Instance, Any,
                                       tuple[bytes, ...]]] = {}
        self._key = b""

    def __len__(self) -> int:
        return len(self._entries)

    def encode(self, data: query.InstanceQueryData,
               insts: Sequence[objects.Instance], complete: bool) -> bytes:
        """The JSON list of the items of ``insts``; ``complete``: these
        are all the instances of the configuration (entries of others
        are dropped)."""
        key = cluster_key(data.cluster)
        if key == self._key:
            key = self._key  # the same object: compared by identity first
        self._key = key
        old = self._entries
        new = {} if complete else old
        live_text: dict[tuple[Any, ...], tuple[bytes, ...]] = {}
        items: list[bytes] = []
        for inst in insts:
            entry = old.get(inst.uuid)
            if entry is None or entry[0] is not inst or entry[1] != key:
                entry = (inst, key, self._config_runs(data, inst))
            new[inst.uuid] = entry
            values = query.row_values(_LIVE_FDEFS, data, inst,
                                      data.live_status(inst))
            # the types too: True == 1, but they encode differently
            live_key = (*values, *map(type, values))
            live = live_text.get(live_key)
            if live is None:
                live = live_text[live_key] = _live_runs(values)
            parts = list(entry[2])
            for slot, text in zip(_LIVE_SLOTS, live, strict=True):
                parts[slot] = text
            items.append(b"{%s}" % b",".join(parts))
        self._entries = new
        if not items:
            return b"[]"
        # the brackets go on the first and last item, not around a copy
        # of the whole answer (8 MiB at 10,000 instances)
        items[0] = b"[" + items[0]
        items[-1] += b"]"
        return b",".join(items)

    @staticmethod
    def _config_runs(data: query.InstanceQueryData, inst: objects.Instance
                     ) -> tuple[bytes, ...]:
        """The encoded non-live runs of ``inst`` (empty for live runs)."""
        return tuple(
            b"" if run.live else _members(add_memory_alias(dict(zip(
                run.names, query.row_values(run.fdefs, data, inst),
                strict=True))))
            for run in _RUNS)


#: The master's cache (one per process).
CACHE: Final = ConfigCellCache()
