"""Running commands and writing files on other nodes over SSH.

``gnt-node add`` uses it to prepare a node the way Ganeti does: copy the
cluster certificate and key files as root, then start the node daemon.
Commands never go through a local shell; the remote command line is one
string quoted with :func:`shlex.join` (ssh hands it to the remote shell).

Host keys: the cluster keeps its own ``known_hosts`` file in the data
directory.  By default a node's key is recorded the first time and must
match afterwards (``StrictHostKeyChecking=accept-new``);
``strict_host_key=False`` (``gnt-node add --no-ssh-key-check``) accepts
any key.  ``BatchMode`` is always on: no password prompts, a missing key
fails at once.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Sequence

from ganeti import errors
from ganeti.utils import process

DEFAULT_TIMEOUT = 120.0


@dataclasses.dataclass(frozen=True)
class SshRunner:
    """How to reach nodes: user, port, identity, host key policy."""

    user: str = "root"
    port: int | None = None
    identity: str | None = None
    known_hosts: str | None = None
    strict_host_key: bool = True
    connect_timeout: int = 10

    def argv(self, host: str, command: Sequence[str]) -> list[str]:
        """The local ssh command line running ``command`` on ``host``."""
        argv = ["ssh", "-oBatchMode=yes", "-oEscapeChar=none",
                f"-oConnectTimeout={self.connect_timeout}",
                "-oStrictHostKeyChecking="
                + ("accept-new" if self.strict_host_key else "no")]
        if self.known_hosts:
            argv.append(f"-oUserKnownHostsFile={self.known_hosts}")
        elif not self.strict_host_key:
            argv.append("-oUserKnownHostsFile=/dev/null")
        if self.port is not None:
            argv += ["-p", str(self.port)]
        if self.identity:
            argv += ["-i", self.identity, "-oIdentitiesOnly=yes"]
        argv += ["-l", self.user, host, "--", shlex.join(command)]
        return argv

    def run(self, host: str, command: Sequence[str], *,
            input: bytes | None = None,
            timeout: float = DEFAULT_TIMEOUT) -> str:
        """Run ``command`` on ``host``; its output, or a one-line
        :class:`errors.CommandError` naming the host and the failure."""
        if self.known_hosts:
            os.makedirs(os.path.dirname(self.known_hosts), exist_ok=True)
        res = process.run_cmd(self.argv(host, command), input=input,
                              timeout=timeout)
        if res.failed:
            detail = " ".join(res.output.split())[-300:] or res.fail_reason
            raise errors.CommandError(
                f"Command on {host} over ssh failed ({res.fail_reason}): "
                f"{shlex.join(command)[:120]}: {detail}")
        return res.stdout

    def write_file(self, host: str, path: str, data: bytes, *,
                   mode: int = 0o600) -> None:
        """Replace ``path`` on ``host`` with ``data`` (temporary file, then
        rename; the directory is created when missing)."""
        if not os.path.isabs(path):
            raise errors.ProgrammerError(f"Remote path {path!r} is relative")
        directory = os.path.dirname(path)
        temp = f"{path}.new"
        script = (f"umask 077 && mkdir -p {shlex.quote(directory)} && "
                  f"cat > {shlex.quote(temp)} && "
                  f"chmod {mode:o} {shlex.quote(temp)} && "
                  f"mv -f {shlex.quote(temp)} {shlex.quote(path)}")
        self.run(host, ["sh", "-c", script], input=data)
