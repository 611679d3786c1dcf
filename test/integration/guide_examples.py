"""The console examples of an rst guide, and a shell that runs them.

The rules are the ones ``doc/admin.rst`` states to its readers ("How to
read the examples"), so that what the test runs is what a reader types:

- An example is the content of a ``.. code-block:: console`` directive.
  A block whose ``:caption:`` says "not run on a local cluster" is shown
  to readers and skipped here.  Other literal blocks (``::``,
  ``code-block:: text``) are not examples, and :func:`stray_commands`
  finds prompt lines outside console blocks, so an example cannot
  escape the test by its markup.
- In an example, a line starting with ``$ `` is a command; a command
  line ending in ``\\`` continues on the next line.  The other lines up
  to the next command are its expected output.
- Expected output is compared with what the command printed (stdout and
  stderr together, in order) line by line, blank lines left out and
  runs of blanks counted as one blank.  A line ``...`` stands for any
  number of lines; ``...`` inside a line stands for any text.  No
  expected output: only the exit status is checked.
- Expected output starting with ``Failure:`` means the command must
  fail (non-zero exit status); otherwise it must exit 0.

:class:`Shell` runs the commands one after another in one ``bash``, as
typed in one terminal: ``. env.sh``, ``export`` and shell variables
carry over from one command to the next, and ``$?`` is the previous
command's status.  Each command reads ``/dev/null`` (a command that
would ask a question gets no answer instead of hanging the test).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import select
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence

CONSOLE = re.compile(r"^(?P<indent>\s*)\.\. code-block:: console\s*$")
NOT_RUN = "not run on a local cluster"
PROMPT = "$ "
FAILURE = "Failure:"
ELLIPSIS = "..."


@dataclasses.dataclass(frozen=True)
class Example:
    """One command of a console block and the output the guide shows."""

    line: int  # 1-based line of the command in the guide
    command: str
    expected: tuple[str, ...]

    @property
    def must_fail(self) -> bool:
        return bool(self.expected) and self.expected[0].startswith(FAILURE)


@dataclasses.dataclass(frozen=True)
class Block:
    line: int  # 1-based line of the directive
    caption: str
    lines: tuple[tuple[int, str], ...]  # (1-based line, dedented text)

    @property
    def runs(self) -> bool:
        return NOT_RUN not in self.caption.lower()


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip())


def console_blocks(text: str) -> list[Block]:
    """Every ``code-block:: console`` of ``text``, in order."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = CONSOLE.match(lines[i])
        if not match:
            i += 1
            continue
        start, base = i, len(match.group("indent"))
        caption = ""
        i += 1
        # Directive options (":caption: ..."), then the content.
        while i < len(lines) and lines[i].strip().startswith(":") \
                and _indent(lines[i]) > base:
            key, _, value = lines[i].strip()[1:].partition(":")
            if key == "caption":
                caption = value.strip()
            i += 1
        content: list[tuple[int, str]] = []
        while i < len(lines) and (not lines[i].strip()
                                  or _indent(lines[i]) > base):
            content.append((i + 1, lines[i]))
            i += 1
        while content and not content[-1][1].strip():
            content.pop()
        margin = min((_indent(t) for _, t in content if t.strip()), default=0)
        blocks.append(Block(start + 1, caption,
                            tuple((n, t[margin:].rstrip()) for n, t in content)))
    return blocks


def examples(block: Block) -> list[Example]:
    """The commands of one console block with their expected output."""
    found: list[Example] = []
    command: list[str] = []
    start = 0
    output: list[str] = []

    def close() -> None:
        if command:
            found.append(Example(start, "\n".join(command), tuple(output)))

    continued = False
    for number, text in block.lines:
        if continued:
            command.append(text)
            continued = text.endswith("\\")
        elif text.startswith(PROMPT):
            close()
            command, start, output = [text[len(PROMPT):]], number, []
            continued = text.endswith("\\")
        elif not text.strip():
            continue
        elif not command:
            raise ValueError(f"line {number}: console block output before "
                             "any command")
        else:
            output.append(text)
    close()
    return found


def runnable_examples(text: str) -> list[Example]:
    """Every command of the guide's run blocks, in order."""
    return [ex for block in console_blocks(text) if block.runs
            for ex in examples(block)]


def stray_commands(text: str) -> list[int]:
    """Lines that look like commands (``$ ...`` or a root prompt
    ``# gnt-...``) outside console blocks."""
    inside = {n for block in console_blocks(text) for n, _ in block.lines}
    return [n for n, line in enumerate(text.splitlines(), 1)
            if n not in inside and line.strip().startswith(("$ ", "# gnt-"))]


def _normal(line: str) -> str:
    return " ".join(line.split())


@functools.lru_cache(maxsize=512)
def _line_pattern(expected: str) -> re.Pattern[str]:
    parts = _normal(expected).split(ELLIPSIS)
    return re.compile(".*".join(re.escape(p) for p in parts), re.DOTALL)


def output_matches(expected: Sequence[str], actual: str) -> bool:
    """Whether ``actual`` fits ``expected`` (see the module doc)."""
    want = [_normal(x) for x in expected if x.strip()]
    if not want:
        return True
    got = [_normal(x) for x in actual.splitlines() if x.strip()]

    @functools.cache
    def fits(i: int, j: int) -> bool:
        if i == len(want):
            return j == len(got)
        if want[i] == ELLIPSIS:
            return any(fits(i + 1, k) for k in range(j, len(got) + 1))
        return (j < len(got) and _line_pattern(want[i]).fullmatch(got[j])
                is not None and fits(i + 1, j + 1))

    return fits(0, 0)


class Shell:
    """One ``bash`` running commands in turn (see the module doc)."""

    def __init__(self, cwd: str, env: Mapping[str, str], workdir: str) -> None:
        self.out_file = os.path.join(workdir, "guide-command.out")
        self.status = 0
        self._marker = f"__guide_{uuid.uuid4().hex}__"
        self._buffer = b""
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"], cwd=cwd, env=dict(env),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True)

    def run(self, command: str, timeout: float) -> tuple[int, str]:
        """Run ``command``; its exit status and its output."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        script = (f"(exit {self.status})\n{{\n{command}\n}} </dev/null "
                  f">{self.out_file} 2>&1\necho \"{self._marker} $?\"\n")
        self.proc.stdin.write(script.encode())
        self.proc.stdin.flush()
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        tag = self._marker.encode()
        while tag not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no end after {timeout:.0f}s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError("the shell exited")
                self._buffer += chunk
        before, _, after = self._buffer.partition(tag)
        status_line, _, self._buffer = after.partition(b"\n")
        self.status = int(status_line.strip())
        with open(self.out_file, encoding="utf-8", errors="replace") as handle:
            output = handle.read()
        # What the shell itself printed (a syntax error) comes first.
        return self.status, before.decode(errors="replace") + output

    def close(self) -> None:
        """End the shell and anything it left running (its own session)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                stream.close()
