"""Node resources for ``gnt-node list``/``info`` and allocation checks."""

from __future__ import annotations

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout

_T_MAYBE_INT = ht.TMaybe(ht.TInt)

#: Keys of the ``node_info`` result; values are None when unknown.
NODE_INFO_KEYS = (
    "bootid", "memory_total", "memory_free", "memory_dom0", "cpu_total",
    "cpu_nodes", "cpu_sockets", "vg_size", "vg_free", "file_storage_total",
    "file_storage_free", "hv_error", "vg_error", "vg_extent_kib",
)


def _node_info_result(value: object) -> bool:
    return (isinstance(value, dict) and set(value) == set(NODE_INFO_KEYS)
            and all(value[k] is None or isinstance(value[k], (int, str))
                    for k in NODE_INFO_KEYS))


CALLS = [
    RpcCall("node_info", Fanout.MULTI, Timeout.URGENT,
            (Arg("vg_name", ht.TMaybe(ht.TString),
                 "Volume group to report (None or empty: none)"),
             Arg("hypervisors", ht.TListOf(ht.TNonEmptyString),
                 "Hypervisors to ask; memory and CPUs come from the first"),
             Arg("file_storage_dir", ht.TString,
                 "Configured file storage directory (relocated on the node)")),
            ht.Check(_node_info_result, "a node_info dictionary"),
            "Memory, CPUs, disk space and boot id of the node: "
            + ", ".join(NODE_INFO_KEYS)),
]
