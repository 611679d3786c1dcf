"""The node's part of ``gnt-cluster verify`` (one call, ``node_verify``)."""

from __future__ import annotations

import time
from typing import Any

from ganeti import constants, errors, hypervisor
from ganeti.backend import handler


def _hypervisor_problems(name: str) -> list[str]:
    try:
        driver = hypervisor.get_hypervisor(name)
    except errors.GenericError as err:
        return [str(err)]
    try:
        return [str(p) for p in driver.verify()]
    except errors.GenericError as err:
        return [f"verify failed: {err}"]


@handler("node_verify")
def node_verify(hypervisors: list[str]) -> dict[str, Any]:
    return {
        "protocol": constants.PROTOCOL_VERSION,
        "release": constants.RELEASE_VERSION,
        "time": time.time(),
        "hypervisor": {hv: _hypervisor_problems(hv) for hv in hypervisors},
    }
