"""Node-level calls: version, test delay."""

from __future__ import annotations

import time

from ganeti import constants
from ganeti.backend import handler


@handler("version")
def version() -> int:
    return constants.PROTOCOL_VERSION


@handler("test_delay")
def test_delay(duration: float) -> None:
    time.sleep(duration)
