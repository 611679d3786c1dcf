"""The one result shape of every node RPC call."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ganeti import errors


@dataclasses.dataclass(frozen=True)
class RpcResult:
    """One node's answer to one call.

    ``fail_msg`` is None on success; then ``payload`` holds the result.
    ``offline`` says the node was skipped because it is marked offline.
    """

    node: str
    call: str
    payload: Any = None
    fail_msg: str | None = None
    offline: bool = False

    @property
    def failed(self) -> bool:
        return self.fail_msg is not None

    def raise_on_fail(self, prefix: str | None = None) -> Any:
        """Return the payload, or raise an error naming node and call."""
        if self.fail_msg is None:
            return self.payload
        text = f"{prefix}: " if prefix else ""
        cls = (errors.NodeUnreachableError if self.offline
               else errors.RpcError)
        raise cls(f"{text}call '{self.call}' on node {self.node} failed: "
                  f"{self.fail_msg}")

    def warn_on_fail(self, feedback: Callable[[str], None],
                     prefix: str | None = None) -> bool:
        """Report a failure through ``feedback``; True when it failed."""
        if self.fail_msg is None:
            return False
        text = f"{prefix}: " if prefix else ""
        feedback(f"{text}call '{self.call}' on node {self.node} failed: "
                 f"{self.fail_msg}")
        return True
