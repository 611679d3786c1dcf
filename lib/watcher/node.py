"""What the watcher does on every node: its own daemons and its hooks.

Daemons: the node daemon and the monitoring daemon everywhere (bound to
this node's primary IP from the ``node_primary_ips`` ssconf file, as
``gnt-node add`` starts them), ganeti-confd on master candidates (bound
the same way) and the master daemon on the master; one that does not
hold its pid file is started with :mod:`ganeti.daemonutil` (the master
daemon is then waited for until it answers on its socket).

Hooks: the executable files with valid names (``[a-zA-Z0-9_-]+``) in
``<hooks dir>/watcher/`` run in name order, as Ganeti's run-parts-like
watcher hooks; a failing one is logged, never fatal.
"""

from __future__ import annotations

import logging
import os
from typing import Final

from ganeti import constants, daemonutil, errors, hooks, pathutils, ssconf

#: The hooks directory of the watcher, under the hooks dir.
HOOKS_SUBDIR: Final = "watcher"


def is_master(store: ssconf.SimpleStore | None = None) -> bool:
    """Whether this node's ssconf names it the master."""
    store = store or ssconf.SimpleStore()
    return store.get_master_node() == pathutils.hostname()


def noded_args(store: ssconf.SimpleStore) -> list[str]:
    """The node daemon's arguments: bind to this node's primary IP."""
    ip = store.read_pairs(ssconf.SS_NODE_PRIMARY_IPS).get(pathutils.hostname())
    return ["-b", ip] if ip else []


def ensure_daemons(master: bool, store: ssconf.SimpleStore) -> list[str]:
    """Start this node's dead daemons; the names of those started."""
    wanted = [(constants.NODED, noded_args(store)),
              (constants.MOND, noded_args(store))]
    if pathutils.hostname() in store.get_master_candidates():
        wanted.append((constants.CONFD, noded_args(store)))
    if master:
        wanted.append((constants.MASTERD, []))
    started = []
    for name, args in wanted:
        if daemonutil.is_running(name):
            continue
        logging.warning("Daemon %s is not running; starting it", name)
        try:
            daemonutil.start(name, args)
            if name == constants.MASTERD:
                # Holding its pid file is not answering yet: the master's
                # duties that follow need its socket.
                from ganeti import bootstrap  # deferred: rarely needed

                bootstrap.wait_for_masterd()
        except errors.GenericError as err:
            logging.error("Cannot start %s: %s", name, err)
            continue
        logging.info("Daemon %s started", name)
        started.append(name)
    return started


def run_hooks(env: dict[str, str] | None = None) -> list[hooks.ScriptResult]:
    """Run ``<hooks dir>/watcher/*``; every result is logged."""
    directory = os.path.join(pathutils.get().hooks_dir, HOOKS_SUBDIR)
    base = {"PATH": hooks.HOOKS_PATH_ENV,
            "GANETI_DATA_DIR": pathutils.get().data_dir}
    try:
        results = hooks.run_parts(directory, dict(base, **(env or {})))
    except errors.GenericError as err:
        logging.error("Cannot run the watcher hooks: %s", err)
        return []
    for res in results:
        if res.status == hooks.HKR_FAIL:
            logging.error("Watcher hook %s failed: %s", res.script, res.output)
        elif res.status == hooks.HKR_SUCCESS:
            logging.info("Watcher hook %s ran", res.script)
        else:
            logging.debug("Watcher hook %s skipped (not an executable file"
                          " with a valid name)", res.script)
    return results
