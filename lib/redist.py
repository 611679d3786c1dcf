"""Which files the cluster keeps identical on its nodes, and pushing them.

The same :func:`distribute_files` serves ``gnt-cluster redist-conf``,
``gnt-node add`` and the promotion of a master candidate; the background
replicators of :mod:`ganeti.replication` keep ``config.data`` and the job
queue current on the master candidates between those events.  See
``doc/design/redist-and-verify.rst``.

The file list (:func:`compute_file_list`), as configured paths with the
nodes that get them (``all`` or ``candidates``):

- ``config.data`` -- candidates (it also follows every config write);
- ``rapi.pem``, ``rapi_users`` -- candidates (the RAPI runs on the master,
  and any candidate can become the master);
- ``hmac.key`` -- all (confd answers on candidates, but its clients, such
  as the watcher of any node, sign their queries with it);
- ``cluster-domain-secret`` -- all (as Ganeti, whose nodes sign the
  certificates of inter-cluster instance moves with it); optional, see
  :func:`optional_files`;
- ``known_hosts`` -- all; the one file that may be missing on the master
  without anything being wrong (:func:`optional_files`): ``ssh`` creates
  it when it records the first host key (``gnt-node add`` over SSH), and
  a cluster whose nodes joined without SSH has none: nothing to send;
- every file a hypervisor lists as ancillary (``vnc_password_file`` of kvm
  and xen-hvm), for each distinct value in use: cluster defaults, per-OS
  and per-instance parameters -- all;
- the cluster's extra files (``gnt-cluster modify``), with their targets.

``server.pem`` (the cluster certificate) is never redistributed: a node
gets it when it joins, and replacing it by a plain upload would cut the
master off from the node half-way; ``gnt-cluster renew-crypto`` replaces
it in steps that keep every node reachable (:mod:`ganeti.cmdlib.cluster_crypto`).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from ganeti import constants, errors, hypervisor, objects, params, pathutils, ssconf
from ganeti.config.journal import JOURNAL_SUFFIX

if TYPE_CHECKING:
    from ganeti.cmdlib.base import LUContext
    from ganeti.config import ConfigWriter
    from ganeti.rpc.client import RpcClient
    from ganeti.rpc.result import RpcResult

_LOG = logging.getLogger(__name__)

TARGET_ALL: Final = constants.REDIST_TARGET_ALL
TARGET_CANDIDATES: Final = constants.REDIST_TARGET_CANDIDATES

#: Ancillary file parameters of the hypervisors whose driver is not part
#: of every build; a driver that is present declares its own
#: (``BaseHypervisor.ANCILLARY_FILE_PARAMETERS``), and a unit test checks
#: both agree.
DECLARED_ANCILLARY: Final[Mapping[str, tuple[str, ...]]] = {
    constants.HT_KVM: ("vnc_password_file",),
    constants.HT_XEN_HVM: ("vnc_password_file",),
}

#: Encodings of file content on the wire.
ENC_PLAIN: Final = "plain"
ENC_ZLIB: Final = "zlib+base64"


# --- Content encoding -----------------------------------------------------------

def encode_data(data: bytes) -> list[str]:
    """File content as ``[encoding, text]`` for a JSON RPC body.

    Small UTF-8 text travels as it is; anything else is compressed with
    zlib and base64-encoded.
    """
    if len(data) <= 4096:
        try:
            return [ENC_PLAIN, data.decode("utf-8")]
        except UnicodeDecodeError:
            pass
    return [ENC_ZLIB, base64.b64encode(zlib.compress(data, 6)).decode("ascii")]


def decode_data(pair: list[str]) -> bytes:
    """Inverse of :func:`encode_data`; bad input is a ProtocolError."""
    encoding, text = pair
    if encoding == ENC_PLAIN:
        return text.encode("utf-8")
    if encoding == ENC_ZLIB:
        try:
            return zlib.decompress(base64.b64decode(text, validate=True))
        except (ValueError, zlib.error) as err:
            raise errors.ProtocolError(
                f"Invalid {ENC_ZLIB} file content: {err}") from None
    raise errors.ProtocolError(f"Unknown file encoding {encoding!r:.40}")


# --- The file list ----------------------------------------------------------------

def _configured() -> pathutils.Paths:
    return pathutils.Paths("")


def static_files() -> list[tuple[str, str]]:
    """The files every cluster distributes, whatever its configuration."""
    conf = _configured()
    return [
        (conf.cluster_conf_file, TARGET_CANDIDATES),
        (conf.cluster_conf_file + JOURNAL_SUFFIX, TARGET_CANDIDATES),
        (conf.rapi_cert_file, TARGET_CANDIDATES),
        (conf.rapi_users_file, TARGET_CANDIDATES),
        (conf.confd_hmac_key, TARGET_ALL),
        (conf.cluster_domain_secret_file, TARGET_ALL),
        (conf.known_hosts_file, TARGET_ALL),
    ]


def optional_files() -> frozenset[str]:
    """Files whose absence on the master is normal (not reported): the
    cluster's ``known_hosts`` is created by ssh at the first recorded host
    key, and a cluster whose nodes joined without SSH never has one; a
    cluster initialised before the cluster domain secret existed has none
    until ``gnt-cluster renew-crypto --new-cluster-domain-secret``."""
    conf = _configured()
    return frozenset({conf.known_hosts_file, conf.cluster_domain_secret_file})


def ancillary_parameters(hv: str) -> tuple[str, ...]:
    """The parameters of ``hv`` that name files to distribute."""
    try:
        return tuple(hypervisor.get_hypervisor_class(hv)
                     .ANCILLARY_FILE_PARAMETERS)
    except errors.ParameterError:  # unknown name
        return ()
    except errors.OpPrereqError:  # known, driver not in this build
        return DECLARED_ANCILLARY.get(hv, ())


def default_ancillary_files() -> list[str]:
    """Declared defaults of every ancillary parameter (the nodes accept
    these without being told: they are part of the static upload list)."""
    found = set()
    for hv, spec in params.HV_PARAMETERS.items():
        for name in ancillary_parameters(hv):
            value = spec[name].default if name in spec else None
            if isinstance(value, str) and value:
                found.add(value)
    return sorted(found)


def _config_data(cfg: ConfigWriter | objects.ConfigData) -> objects.ConfigData:
    if hasattr(cfg, "snapshot"):
        data: objects.ConfigData = cfg.snapshot()
        return data
    return cfg


def _hv_parameter_sets(data: objects.ConfigData,
                       hv: str) -> Iterable[Mapping[str, Any]]:
    cluster = data.cluster
    yield cluster.fill_hv(hv)
    for os_name, per_hv in sorted(cluster.os_hvp.items()):
        if hv in per_hv:
            yield cluster.fill_hv(hv, os_name)
    for name in sorted(data.instances):
        inst = data.instances[name]
        if inst.hypervisor == hv:
            yield cluster.filled_hvparams(inst)


def hypervisor_files(cfg: ConfigWriter | objects.ConfigData) -> list[str]:
    """Distinct ancillary files in use: cluster defaults, per-OS and
    per-instance parameters of every hypervisor the configuration has
    parameters for (enabled, with cluster defaults, or used by an
    instance), sorted configured paths."""
    data = _config_data(cfg)
    cluster = data.cluster
    hvs = dict.fromkeys([*cluster.enabled_hypervisors, *cluster.hvparams,
                         *(i.hypervisor for i in data.instances.values())])
    found: set[str] = set()
    for hv in hvs:
        names = ancillary_parameters(hv)
        if not names or hv not in params.HV_PARAMETERS:
            continue
        for values in _hv_parameter_sets(data, hv):
            for name in names:
                value = values.get(name)
                if isinstance(value, str) and value:
                    found.add(value)
    return sorted(found)


def compute_file_list(cfg: ConfigWriter | objects.ConfigData
                      ) -> list[tuple[str, str]]:
    """Every distributed file as ``(configured path, target)``, sorted by
    path.  A path listed twice gets the wider target (``all``)."""
    data = _config_data(cfg)
    files: dict[str, str] = {}

    def add(path: str, target: str) -> None:
        path = os.path.normpath(path)
        if files.get(path) != TARGET_ALL:
            files[path] = target

    for path, target in static_files():
        add(path, target)
    for path in hypervisor_files(data):
        add(path, TARGET_ALL)
    for extra in data.cluster.redist_files:
        add(extra.path, extra.target)
    return sorted(files.items())


def ssconf_redist_value(cfg: ConfigWriter | objects.ConfigData) -> str:
    """The ``redist_files`` ssconf value: one ``<path> <target>`` per line
    for every distributed file beyond the static upload list (extra
    files; ancillary files of every level, cluster, per-OS and
    per-instance, but the declared defaults), so nodes accept them, and
    for a static file whose target an extra entry widened, so a demoted
    node keeps it (:func:`candidate_only_paths`)."""
    static = set(static_files()) | {(p, TARGET_ALL)
                                    for p in default_ancillary_files()}
    return "\n".join(f"{p} {t}" for p, t in compute_file_list(cfg)
                     if (p, t) not in static)


# --- The upload list (node side) ----------------------------------------------

def static_upload_paths() -> set[str]:
    """Configured paths every node accepts by ``upload_file``."""
    return ({p for p, _ in static_files()} | set(default_ancillary_files()))


def allowed_upload_paths(paths: pathutils.Paths | None = None) -> set[str]:
    """This node's upload list: the static set plus the ``redist_files``
    ssconf value the master published (absent: the static set only)."""
    allowed = static_upload_paths()
    store = ssconf.SimpleStore(paths or pathutils.get())
    try:
        extra = store.read_list(ssconf.SS_REDIST_FILES)
    except errors.NotClusterError:
        extra = []
    for line in extra:
        path = line.split()[0]
        if path.startswith("/"):
            allowed.add(os.path.normpath(path))
    return allowed


def candidate_only_paths(paths: pathutils.Paths | None = None) -> list[str]:
    """Configured paths this node holds only while it is a master
    candidate: the static candidates' files and the extra files the
    ``redist_files`` ssconf value targets at candidates."""
    found = {p for p, t in static_files() if t == TARGET_CANDIDATES}
    store = ssconf.SimpleStore(paths or pathutils.get())
    try:
        extra = store.get_redist_files()
    except errors.NotClusterError:
        extra = {}
    for path, target in extra.items():
        if path.startswith("/"):
            if target == TARGET_CANDIDATES:
                found.add(os.path.normpath(path))
            else:
                found.discard(os.path.normpath(path))
    return sorted(found)


def check_configured_path(path: str) -> str:
    """A configured path must be absolute and normalized (no ``..``,
    ``.``, ``//``); returns it or raises OpPrereqError."""
    if (not isinstance(path, str) or not path.startswith("/")
            or "\0" in path or os.path.normpath(path) != path
            or path.startswith("//")):
        raise errors.OpPrereqError(
            f"Invalid path {path!r:.200}: must be absolute and normalized")
    return path


def relocate_safely(path: str, paths: pathutils.Paths) -> str:
    """The node-local name of a configured path, refusing symlinked
    directories that lead out of the node's root."""
    local = paths.under(check_configured_path(path))
    if paths.root:
        root = os.path.realpath(paths.root)
        parent = os.path.realpath(os.path.dirname(local))
        if parent != root and not parent.startswith(root + os.sep):
            raise errors.OpPrereqError(
                f"Path {path} leads outside the node's root through a "
                "symbolic link")
    return local


# --- Distribution (master side) ------------------------------------------------

@dataclasses.dataclass
class NodeResult:
    """What :func:`distribute_files` did on one node."""

    node: str
    written: list[str] = dataclasses.field(default_factory=list)
    failed: list[str] = dataclasses.field(default_factory=list)
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failed and self.skipped is None


@dataclasses.dataclass
class LocalFile:
    """A file read on the master, ready to upload."""

    path: str
    data: list[str]
    mode: int
    uid: int
    gid: int
    atime: float
    mtime: float

    def args(self) -> tuple[Any, ...]:
        return (self.path, self.data, self.mode, self.uid, self.gid,
                self.atime, self.mtime)


def read_local(path: str, paths: pathutils.Paths | None = None
               ) -> LocalFile | None:
    """The master's copy of a configured path (None if missing)."""
    local = (paths or pathutils.get()).under(path)
    try:
        with open(local, "rb") as handle:
            st = os.fstat(handle.fileno())
            data = handle.read()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise errors.OpExecError(
            f"Cannot read {local}: {err.strerror or err}",
            errors.ErrorCode.ENVIRON) from None
    return LocalFile(path, encode_data(data), st.st_mode & 0o7777, st.st_uid,
                     st.st_gid, st.st_atime, st.st_mtime)


def queue_files(paths: pathutils.Paths | None = None
                ) -> list[tuple[str, bytes]]:
    """The master's queue files a new candidate needs: the serial and
    every job not archived, as (name in the queue directory, content)."""
    queue_dir = (paths or pathutils.get()).queue_dir
    try:
        names = sorted(os.listdir(queue_dir))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name == "serial" or (name.startswith("job-")
                                and name[4:].isdigit()):
            try:
                with open(os.path.join(queue_dir, name), "rb") as handle:
                    out.append((name, handle.read()))
            except FileNotFoundError:  # archived meanwhile
                continue
    return out


Feedback = Callable[[str], None]


def distribute_files(ctx: LUContext, nodes: Iterable[str] | None = None, *,
                     include_config: bool = True,
                     include_queue: bool | None = None,
                     feedback: Feedback | None = None
                     ) -> dict[str, NodeResult]:
    """Push the ssconf values and every distributed file present on the
    master to the nodes that get it; per node what happened.

    ``ctx`` is an LU context (``cfg``, ``rpc``, ``master``).  ``nodes``
    limits the push (node add, promotion); default every node.  Offline
    nodes and the master itself are skipped.  A file missing on the
    master is reported through ``feedback``, not fatal.  The job queue
    (serial and jobs) is copied to candidates when ``include_queue``
    (default: when ``nodes`` is given, i.e. for new candidates).
    """
    cfg, rpc, master = ctx.cfg, ctx.rpc, ctx.master
    say = feedback or (lambda _msg: None)
    wanted = None if nodes is None else set(nodes)
    if include_queue is None:
        include_queue = wanted is not None
    results: dict[str, NodeResult] = {}
    targets: list[str] = []
    candidates: set[str] = set()
    for name in cfg.node_names():
        if wanted is not None and name not in wanted:
            continue
        node = cfg.get_node(name)
        if node is None or name == master:  # None: removed meanwhile
            continue
        res = results[name] = NodeResult(name)
        if node.offline:
            res.skipped = "node is offline"
            continue
        targets.append(name)
        if node.master_candidate:
            candidates.add(name)
    for name in sorted((wanted or set()) - set(results) - {master}):
        results[name] = NodeResult(name, skipped="node not in the config")
    if not targets:
        return results
    # The ssconf values first: they carry the upload list of the files.
    values = ssconf.compute_values(cfg)
    _note_answers(results, "ssconf files",
                  rpc.call_write_ssconf_files(targets, values))
    optional = optional_files()
    for path, target in compute_file_list(cfg):
        if path == _configured().cluster_conf_file and not include_config:
            continue
        to = [n for n in targets
              if target == TARGET_ALL or n in candidates]
        if not to:
            continue
        local = read_local(path)
        if local is None:
            if path not in optional:
                say(f"File {path} is missing on the master; not distributed")
            continue
        _note_answers(results, path, rpc.call_upload_file(to, *local.args()))
    if include_queue and candidates:
        push_queue(rpc, sorted(candidates), results)
    for res in results.values():
        for msg in res.failed:
            say(f"Node {res.node}: {msg}")
    return results


def push_queue(rpc: RpcClient, nodes: list[str],
               results: dict[str, NodeResult] | None = None) -> None:
    """Copy the master's job queue (serial, unarchived jobs) to nodes;
    the serial first, as the replicator does: a candidate never holds a
    job above its serial."""
    files = sorted(queue_files(), key=lambda item: (item[0] != "serial",
                                                     item[0]))
    for name, content in files:
        answers = rpc.call_jobqueue_update(nodes, name, encode_data(content))
        for node, res in answers.items():
            if res.fail_msg and results is not None and node in results:
                _note(results[node], f"job queue file {name}", res.fail_msg)
            elif res.fail_msg:
                _LOG.warning("Cannot copy queue file %s to %s: %s", name,
                             node, res.fail_msg)


def _note_answers(results: dict[str, NodeResult], what: str,
                  answers: Mapping[str, RpcResult]) -> None:
    for node, answer in answers.items():
        _note(results[node], what, answer.fail_msg)


def _note(res: NodeResult, what: str, fail_msg: str | None) -> None:
    if fail_msg is None:
        res.written.append(what)
    else:
        res.failed.append(f"{what}: {fail_msg}")
