"""ganeti-masterd: the job queue, the locks and LUXI on the master node.

Start-up checks that a cluster configuration exists under this node's
root and that this node is the master; then it loads the config, builds
the lock manager from it, recovers the job queue (jobs a dead master left
running are failed, or finished or rolled back by
:mod:`ganeti.crash_recovery`; queued jobs run) and serves LUXI on the
master socket.
SIGTERM stops accepting requests and new jobs, waits for the running
opcodes to finish, and exits.

Node RPC transport (``--rpc-transport``): ``https`` (the default: every
cluster node, the master included, runs a node daemon) sends calls to the
node daemons (``ganeti-noded``, mutual TLS with the cluster certificate);
``local`` answers the master's own node in this process and reports other
nodes unreachable (a master without node daemons, as in tests of the
queue); ``in-process`` answers *every* node's calls in this process,
which benchmarks and tests of the queue and lock layers use to take node
daemons out of the measurement.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
from typing import Any

from ganeti import (
    bootstrap,
    config,
    constants,
    crash_recovery,
    daemon,
    errors,
    hooks,
    jqueue,
    locking,
    luxi,
    master_metrics,
    mcpu,
    opcodes,
    pathutils,
    query_bulk,
    replication,
    ssconf,
)
from ganeti.backend import node as backend_node
from ganeti.cmdlib import instance_query
from ganeti.cmdlib.base import LUContext
from ganeti.rpc.client import LocalTransport, RpcClient, Transport
from ganeti.rpc.transport import HttpsTransport
from ganeti.utils import memlock

RPC_TRANSPORTS = ("local", "in-process", "https")
#: Seconds each replicator may take at stop to finish its queued pushes;
#: both together stay below daemon-util's 60 s before SIGKILL.
REPLICATION_STOP_TIMEOUT = 20.0


def add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=jqueue.DEFAULT_WORKERS,
                        help="Job queue worker threads (default %(default)s)")
    parser.add_argument("--rpc-transport", choices=RPC_TRANSPORTS,
                        default="https",
                        help="How node RPC calls are sent (default "
                             "%(default)s; see the man page)")
    parser.add_argument("--no-voting", action="store_true",
                        help="Start without asking the other nodes who "
                             "the master is")
    parser.add_argument("--yes-do-it", action="store_true",
                        help="Confirm --no-voting")


def check(options: argparse.Namespace) -> None:
    if options.workers < 1:
        raise errors.UsageError("--workers must be at least 1")
    path = pathutils.get().cluster_conf_file
    if not os.path.exists(path):
        raise errors.NotClusterError(
            f"Cluster configuration not found at {path}: this node is not "
            "part of a cluster")
    cfg = config.ConfigWriter(offline=True)
    master = cfg.get_cluster().master_node
    me = pathutils.hostname()
    if master != me:
        raise errors.NotMasterError(
            f"This is not the master node (this is {me}, the master is "
            f"{master})")
    bootstrap.check_master_start(
        cfg, voting=options.rpc_transport == "https" and not options.no_voting)


class _QueueHooks:
    """The job queue's writer as a :class:`replication.Flushable`."""

    def __init__(self, queue: jqueue.JobQueue) -> None:
        self._queue = queue

    def flush(self, timeout: float = 30.0) -> bool:
        return self._queue.flush_replication(timeout)


class Master:
    """The running master: config, locks, queue, LUXI server."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.cfg = config.ConfigWriter()
        cluster = self.cfg.get_cluster()
        self.master_name = cluster.master_node
        self.glm = locking.GanetiLockManager(
            nodes=self.cfg.node_names(), instances=self.cfg.instance_names(),
            nodegroups=self.cfg.nodegroup_uuids())
        transport: Transport
        if options.rpc_transport == "in-process":
            transport = LocalTransport()
        elif options.rpc_transport == "https":
            transport = HttpsTransport(pathutils.get().noded_cert_file)
        else:
            transport = LocalTransport([self.master_name])
        self.rpc = RpcClient(self.cfg.get_node, transport)
        self.processor = mcpu.Processor(
            LUContext(cfg=self.cfg, rpc=self.rpc, master=self.master_name,
                      glm=self.glm),
            self.glm, hooks.RpcHooksRunner(self.rpc))
        # Every config change reaches the nodes' ssconf files (async).
        self.ssconf = ssconf.SsconfPusher(self.cfg,
                                          ssconf.rpc_push_fn(self.rpc))
        self.cfg.add_write_hook(self.ssconf.on_write)
        # Workers start in serve(), after the recoveries of the jobs a
        # crash interrupted (ganeti.crash_recovery).
        self.queue = jqueue.JobQueue(
            self.processor.execute, workers=options.workers, start=False,
            recovery=crash_recovery.planner(self.cfg))
        self._wire_metrics()
        # config.data and the job queue follow every change to the master
        # candidates, in the background (ganeti.replication).
        config_rep = replication.ConfigReplicator(self.cfg, self.rpc,
                                                  self.master_name)
        queue_rep = replication.QueueReplicator(self.cfg, self.rpc,
                                                self.master_name)
        self.cfg.add_write_hook(config_rep.on_write)
        self.queue.add_replication_hook(queue_rep.on_batch)
        self.config_replicator = config_rep
        self.replicators = [config_rep, queue_rep]
        replication.register(self.cfg, self.ssconf)
        replication.register(self.cfg, config_rep)
        # The queue writer first: files it wrote reach queue_rep only
        # through its hook, so verify's flush waits for both in turn.
        replication.register(self.cfg, _QueueHooks(self.queue))
        replication.register(self.cfg, queue_rep)
        self.server = luxi.Server(pathutils.get().master_socket, self.handle,
                                  group=luxi.SOCKET_GROUP)
        self._server_thread = threading.Thread(
            target=self.server.serve_forever, args=(0.2,), daemon=True,
            name="luxi-server")

    def _wire_metrics(self) -> None:
        """Counters fed where jobs, locks, RPCs and config writes pass
        (ganeti.master_metrics); ``QueryMetrics`` formats them."""
        self.metrics = master_metrics.MasterMetrics()
        self.metrics.config_written(self.cfg.get_serial_no())
        self.cfg.add_write_hook(self.metrics.config_written)
        self.rpc.observer = self.metrics.rpc_done
        self.processor.lock_observer = self.metrics.lock_waited
        self.processor.result_observer = self.metrics.opcode_done
        self.queue.set_observer(self.metrics)

    # --- lifecycle ----------------------------------------------------------

    def serve(self, stop: threading.Event) -> int:
        self.ssconf.start()
        for replicator in self.replicators:
            replicator.start()
        # Bring every node up to date at start: ssconf everywhere, and
        # config.data and the job queue on candidates that missed pushes
        # (a failover, a crash of the previous master daemon, a candidate
        # that was down): each is asked what it has and sent the rest.
        self.ssconf.on_write(0)
        for replicator in self.replicators:
            replicator.catch_up()
        self.queue.start()
        self._server_thread.start()
        logging.info("Master daemon ready on %s", self.server.server_address)
        stop.wait()
        logging.info("Stopping: no new requests; waiting for running jobs")
        self.server.shutdown()
        self.server.server_close()
        finished = self.queue.shutdown()
        if not finished:
            logging.warning("Some opcodes were still running at shutdown")
        self.ssconf.stop()
        for replicator in self.replicators:
            replicator.stop(timeout=REPLICATION_STOP_TIMEOUT)
        self.rpc.close()
        return errors.EXIT_SUCCESS

    # --- LUXI -----------------------------------------------------------------

    def handle(self, method: luxi.Method, args: list[Any]) -> Any:
        handler = getattr(self, f"_luxi_{method.name}", None)
        if handler is None:
            raise errors.ProtocolError(f"LUXI method {method.name} is not "
                                       "handled by this master")
        return handler(*args)

    def _luxi_SubmitJob(self, ops: list[dict[str, Any]]) -> int:
        return self.queue.submit_job(ops)

    def _luxi_SubmitManyJobs(self, jobs: list[list[dict[str, Any]]]) -> Any:
        return [list(r) for r in self.queue.submit_many_jobs(jobs)]

    def _luxi_WaitForJobChange(self, job_id: Any, fields: list[str],
                               prev_job_info: Any, prev_log_serial: Any,
                               timeout: float) -> Any:
        # capped before the conversion: JSON integers have no bound
        timeout = float(min(timeout, luxi.WFJC_TIMEOUT))
        result = self.queue.wait_for_job_changes(
            job_id, fields, prev_job_info, prev_log_serial, timeout)
        if result is None:
            raise errors.OpPrereqError(f"Job {job_id} not found",
                                       errors.ErrorCode.NOENT)
        if result == jqueue.JOB_NOTCHANGED:
            return result
        info, log = result
        return [info, log]

    def _luxi_CancelJob(self, job_id: Any) -> Any:
        return list(self.queue.cancel_job(job_id))

    def _luxi_ChangeJobPriority(self, job_id: Any, priority: Any) -> Any:
        return list(self.queue.change_job_priority(job_id, priority))

    def _luxi_ArchiveJob(self, job_id: Any) -> bool:
        return self.queue.archive_job(job_id)

    def _luxi_AutoArchiveJobs(self, age: float, timeout: float) -> Any:
        return list(self.queue.autoarchive_jobs(age, timeout))

    def _luxi_QueryJobs(self, job_ids: Any, fields: list[str]) -> Any:
        return self.queue.query_jobs(job_ids, fields)

    def _luxi_QueryClusterInfo(self) -> Any:
        return self.processor.execute_direct(opcodes.OpClusterQuery())

    def _luxi_Query(self, what: str, fields: list[str],
                    qfilter: list[Any] | None) -> Any:
        return self.processor.execute_direct(opcodes.OpQuery(
            what=what, output_fields=fields, filter=qfilter))

    def _luxi_QueryFields(self, what: str, fields: list[str] | None) -> Any:
        return self.processor.execute_direct(opcodes.OpQueryFields(
            what=what, output_fields=fields))

    def _luxi_QueryConfigValues(self, fields: list[str]) -> Any:
        return self.processor.execute_direct(
            opcodes.OpClusterConfigQuery(output_fields=fields))

    def _luxi_QueryInstances(self, names: list[str], fields: list[str],
                             use_locking: bool) -> Any:
        return self.processor.execute_direct(opcodes.OpInstanceQuery(
            names=names, output_fields=fields, use_locking=use_locking))

    def _luxi_QueryInstancesBulk(self, names: list[str],
                                 use_locking: bool) -> Any:
        return self.processor.execute_direct(
            opcodes.OpInstanceQuery(names=names,
                                    output_fields=list(query_bulk.FIELDS),
                                    use_locking=use_locking),
            lu_cls=instance_query.LUInstanceQueryBulk)

    def _luxi_QueryNodes(self, names: list[str], fields: list[str],
                         use_locking: bool) -> Any:
        return self.processor.execute_direct(opcodes.OpNodeQuery(
            names=names, output_fields=fields, use_locking=use_locking))

    def _luxi_QueryGroups(self, names: list[str], fields: list[str],
                          use_locking: bool) -> Any:
        return self.processor.execute_direct(opcodes.OpGroupQuery(
            names=names, output_fields=fields, use_locking=use_locking))

    def _luxi_QueryExports(self, nodes: list[str], use_locking: bool) -> Any:
        return self.processor.execute_direct(opcodes.OpBackupQuery(
            nodes=nodes, use_locking=use_locking))

    def _luxi_QueryTags(self, kind: str, name: str) -> Any:
        return self.processor.execute_direct(opcodes.OpTagsGet(
            kind=kind, name=name or None))

    def _luxi_QueryLocks(self, fields: list[str]) -> Any:
        known = ("name", "mode", "owner", "pending")
        unknown = [f for f in fields if f not in known]
        if unknown:
            raise errors.UnknownFieldError(
                f"Unknown lock field(s): {', '.join(unknown)}")
        rows = []
        for lock in self.glm.info():
            values = {"name": lock["name"], "mode": lock["mode"],
                      "owner": sorted(lock["owners"]) or None,
                      "pending": [[mode, sorted(names)]
                                  for mode, names in lock["pending"]] or None}
            rows.append([values[f] for f in fields])
        return rows

    def _luxi_QueryMetrics(self) -> str:
        return self.metrics.render()

    def _luxi_SetDrainFlag(self, drain_flag: bool) -> bool:
        self.queue.set_drain_flag(drain_flag)
        return True

    def _luxi_SetWatcherPause(self, until: float | None) -> Any:
        """Write (or remove) the pause file here and on every other online
        node, whose watchers read their own copy; a node that cannot be
        reached is logged and keeps its old file."""
        backend_node.set_watcher_pause(until)
        others = [n.name for n in self.cfg.get_online_nodes()
                  if n.name != self.master_name]
        if others:
            for name, res in self.rpc.call_set_watcher_pause(
                    others, until).items():
                if res.fail_msg:
                    logging.warning("Cannot set the watcher pause on %s: %s",
                                    name, res.fail_msg)
        return until


def run(ctx: daemon.DaemonContext) -> int:
    master = Master(ctx.options)
    return master.serve(ctx.stop_event)


def prepare(_options: argparse.Namespace) -> None:
    # One allocator arena, as the node daemon (before any thread starts):
    # the threads that answer large listings (tens of MiB of short-lived
    # objects at 10,000 instances) each kept their own arena's pages;
    # 138 instead of 102 MiB resident after four bulk listings.
    memlock.limit_arenas(1)


SPEC = daemon.DaemonSpec(constants.MASTERD, "Ganeti master daemon",
                         add_options, check, run, prepare=prepare)


def main(argv: list[str] | None = None) -> int:
    return daemon.main(SPEC, argv)
