"""``ganeti-watcher``: the cron-driven keeper of a cluster (ganeti-watcher(8)).

One run, on any node (every 5 minutes from cron or a systemd timer):

1. take the watcher lock (another run still busy: this one exits 0);
2. stop here if the watcher is paused (``gnt-cluster watcher pause``)
   unless ``--ignore-pause``;
3. start this node's daemons that are dead, stop everything on a node
   the cluster marks offline when ``maintain_node_health`` is on
   (:mod:`ganeti.watcher.health`), and run the watcher hooks
   (:mod:`ganeti.watcher.node`);
4. on the master only: unless the job queue is drained, restart the
   instances that should run, re-activate disks after node reboots,
   verify mirrored disks and archive old jobs
   (:mod:`ganeti.watcher.master`), then save the state file.

Exit codes: 0 when the run did what it could (paused, drained, another
watcher busy, failed restarts: all logged); 1 when the master daemon
cannot be reached on the master, or the state cannot be saved; 2 for a
usage error; 5 when this machine is not part of a cluster.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Final

from ganeti import cli, constants, daemon, errors, luxi, pathutils, ssconf
from ganeti.utils.filelock import FileLock
from ganeti.watcher import health
from ganeti.watcher import master as master_mod
from ganeti.watcher import node as node_mod
from ganeti.watcher.state import WatcherState, paused_until

#: The watcher's log file name (``<log dir>/watcher.log``, Ganeti's).
LOG_NAME: Final = "watcher"


def parse_options(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=constants.WATCHER,
        description="Restart dead daemons and instances, archive old jobs"
        " (run from cron every 5 minutes; see ganeti-watcher(8)).")
    parser.add_argument("-d", "--debug", action="store_true",
                        help="Log debug messages, and log to stderr too")
    parser.add_argument("-A", "--job-age", default=str(
        master_mod.JOB_AGE_DEFAULT), metavar="AGE",
        help="Archive finished jobs older than AGE (seconds, or with a"
        " unit: 30m, 6h, 1d; default 6h)")
    parser.add_argument("--ignore-pause", action="store_true",
                        help="Run even if the watcher is paused")
    opts = parser.parse_args(list(argv))
    try:
        opts.job_age = cli.parse_timespec(opts.job_age)
    except errors.UsageError as err:
        parser.error(str(err))
    return opts


def _lock_file() -> str:
    return pathutils.get().watcher_state_file + ".lock"


def run(opts: argparse.Namespace,
        connect: Callable[[], master_mod.MasterClient] = luxi.Client) -> int:
    """One watcher run (logging set up); the exit code."""
    paths = pathutils.get()
    store = ssconf.SimpleStore()
    try:
        master = node_mod.is_master(store)
    except errors.NotClusterError as err:
        logging.error("Not running: %s", err)
        print(f"{constants.WATCHER}: this node is not part of a cluster"
              f" ({err})", file=sys.stderr)
        return errors.EXIT_NOTCLUSTER
    try:
        lock = FileLock(_lock_file())
        lock.exclusive(timeout=0)
    except errors.LockError:
        logging.info("Another watcher run holds %s; exiting", _lock_file())
        return errors.EXIT_SUCCESS
    try:
        until = None if opts.ignore_pause else paused_until()
        if until is not None:
            logging.info("Watcher paused until %s; nothing done",
                         time.strftime("%Y-%m-%d %H:%M:%S",
                                       time.localtime(until)))
            return errors.EXIT_SUCCESS
        node_mod.ensure_daemons(master, store)
        health.maintain(store, master)
        node_mod.run_hooks()
        if not master:
            return errors.EXIT_SUCCESS
        if os.path.exists(paths.queue_drain_file):
            logging.warning("The job queue is drained: no instance restarted"
                            " and no job archived this run")
            return errors.EXIT_SUCCESS
        return _run_master(opts, connect)
    finally:
        lock.close()


def _run_master(opts: argparse.Namespace,
                connect: Callable[[], master_mod.MasterClient]) -> int:
    state = WatcherState.load()
    try:
        client = connect()
        report = master_mod.MasterWatcher(client, state,
                                          job_age=opts.job_age).execute()
    except (errors.LuxiError, OSError) as err:
        logging.error("Cannot work through the master daemon: %s", err)
        print(f"{constants.WATCHER}: cannot reach the master daemon: {err}",
              file=sys.stderr)
        return errors.EXIT_FAILURE
    try:
        state.save()
    except errors.GenericError as err:
        logging.error("Cannot save the watcher state: %s", err)
        return errors.EXIT_FAILURE
    logging.info("Run done: %d restarted, %d failed, %d given up, %d busy,"
                 " disks activated on %d, %d jobs archived",
                 len(report.restarted), len(report.failed),
                 len(report.given_up), len(report.busy),
                 len(report.disks_activated), report.archived)
    return errors.EXIT_SUCCESS


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ganeti-watcher`` launcher."""
    opts = parse_options(sys.argv[1:] if argv is None else argv)
    daemon.setup_logging(constants.WATCHER,
                         pathutils.get().log_file(LOG_NAME),
                         debug=opts.debug, to_stderr=opts.debug)
    try:
        return run(opts)
    except errors.GenericError as err:
        logging.error("%s", err)
        print(f"{constants.WATCHER}: {err}", file=sys.stderr)
        return err.exit_code
