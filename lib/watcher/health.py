"""Node health maintenance (the cluster's ``maintain_node_health``,
Ganeti 2.1.2): an offline node runs nothing.

A node the cluster marks offline was given up: its instances were failed
over elsewhere and run there on the same data.  If such a node comes
back (a network partition heals, a hung machine wakes up) still running
its old copies, two copies of an instance write to one disk.  So when
``maintain_node_health`` is on (ssconf), each watcher run on a node that
is not the master asks confd (the master candidates, which know the
configuration) for this node's role; if it is offline, every instance
the node's hypervisors run is stopped at once (forced) and every DRBD
device is shut down.  Without a confd answer nothing is done (a node
cut off from the candidates cannot tell) and the run says so.
"""

from __future__ import annotations

import logging

from ganeti import errors, hypervisor, pathutils, ssconf
from ganeti.confd.client import ConfdClient
from ganeti.confd.protocol import NodeRole, ReqType, Status
from ganeti.storage import drbd

#: Seconds to wait for confd's answer.
CONFD_TIMEOUT = 5.0


def node_role(node: str) -> NodeRole | None:
    """This node's role as confd answers it; None when unknown."""
    try:
        with ConfdClient.from_cluster(timeout=CONFD_TIMEOUT) as client:
            answer = client.query(ReqType.NODE_ROLE_BYNAME, node)
    except (errors.GenericError, OSError) as err:
        logging.error("Node health: cannot ask confd for the role of %s:"
                      " %s", node, err)
        return None
    if answer.status != Status.OK:
        logging.error("Node health: confd does not know node %s (%s)",
                      node, answer.answer)
        return None
    try:
        return NodeRole(int(answer.answer))
    except (TypeError, ValueError):
        logging.error("Node health: confd answered role %r for %s",
                      answer.answer, node)
        return None


def stop_everything(store: ssconf.SimpleStore) -> list[str]:
    """Stop every instance and DRBD device of this node; what was done."""
    done = []
    for name in store.get_hypervisor_list():
        try:
            driver = hypervisor.get_hypervisor(name)
            running = driver.get_all_instances_info()
        except errors.GenericError as err:
            logging.error("Node health: cannot list the %s instances: %s",
                          name, err)
            continue
        for info in running:
            try:
                driver.stop_instance(info.name, force=True)
            except errors.GenericError as err:
                logging.error("Node health: cannot stop instance %s: %s",
                              info.name, err)
                continue
            done.append(f"stopped instance {info.name}")
    runner = drbd.node_runner()
    try:
        minors = sorted(runner.states())
    except errors.GenericError as err:  # no DRBD on this node
        logging.debug("Node health: no DRBD devices looked at: %s", err)
        minors = []
    for minor in minors:
        try:
            runner.run(runner.commands().down_minor(minor))
        except errors.GenericError as err:
            logging.error("Node health: cannot shut down DRBD minor %d: %s",
                          minor, err)
            continue
        done.append(f"shut down DRBD minor {minor}")
    return done


def maintain(store: ssconf.SimpleStore, master: bool) -> list[str]:
    """One run's node health maintenance; what was done."""
    if master or not store.get_maintain_node_health():
        return []
    node = pathutils.hostname()
    role = node_role(node)
    if role != NodeRole.OFFLINE:
        logging.debug("Node health: %s is %s", node,
                      "unknown" if role is None else role.name.lower())
        return []
    logging.warning("Node health: %s is offline in the cluster's"
                    " configuration: stopping its instances and DRBD"
                    " devices", node)
    done = stop_everything(store)
    for line in done:
        logging.warning("Node health: %s", line)
    return done


__all__ = ["maintain", "node_role", "stop_everything"]
