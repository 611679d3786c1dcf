"""The node's part of ``gnt-cluster verify`` (one call, ``node_verify``)."""

from __future__ import annotations

import time
from typing import Any

from ganeti import constants, errors, hypervisor
from ganeti.backend import handler
from ganeti.backend.instance import instance_list


def _hypervisor_problems(name: str) -> list[str]:
    try:
        driver = hypervisor.get_hypervisor(name)
    except errors.GenericError as err:
        return [str(err)]
    try:
        return [str(p) for p in driver.verify()]
    except errors.GenericError as err:
        return [f"verify failed: {err}"]


def _running_instances(hypervisors: list[str]) -> dict[str, Any]:
    """``instances``: what the hypervisors run here, or ``instances_error``
    saying why the list could not be had (the master's instance checks
    then skip this node instead of calling everything down)."""
    try:
        return {"instances": instance_list(hypervisors)}
    except errors.GenericError as err:
        return {"instances_error": str(err)}


@handler("node_verify")
def node_verify(hypervisors: list[str]) -> dict[str, Any]:
    return {
        "protocol": constants.PROTOCOL_VERSION,
        "release": constants.RELEASE_VERSION,
        "time": time.time(),
        "hypervisor": {hv: _hypervisor_problems(hv) for hv in hypervisors},
        **_running_instances(hypervisors),
    }
