"""The RAPI users file: parsing, password checks, writing.

Format, as Ganeti's (one user per line, ``#`` starts a comment line)::

    # name  password                              options
    jack    abc123
    fred    {cleartext}foo555                     read
    robot   {HA1}7046452df2cbb530877058712cf17bd4 write

The password is clear text (which must not start with ``{``), clear text
behind a ``{cleartext}`` prefix, or ``{HA1}`` followed by the hex MD5 of
``user:Ganeti Remote API:password`` (RFC 2617's HA1, so that Digest
authentication could use the same file).  Scheme prefixes are not case
sensitive.  Options are separated by commas: ``write`` allows changes,
``read`` allows reading when the daemon requires authentication for
everything.

A line that cannot be understood never stops the daemon: it is reported
(by line number, never with its password) and ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from typing import Final

from ganeti import errors
from ganeti.rapi import ACCESS_OPTIONS, ACCESS_WRITE, REALM
from ganeti.utils import io

SCHEME_CLEARTEXT: Final = "cleartext"
SCHEME_HA1: Final = "ha1"
_SCHEME: Final = re.compile(r"\{([^{}]*)\}(.*)", re.S)
_HEX_MD5: Final = re.compile(r"[0-9a-f]{32}")
#: Names and passwords are whitespace-free tokens of a line.
_TOKEN: Final = re.compile(r"\S+")


@dataclasses.dataclass(frozen=True)
class User:
    """One user of the file; ``secret`` is the clear text password or the
    lower-case HA1 hex digest, as ``scheme`` says."""

    name: str
    scheme: str
    secret: str = dataclasses.field(repr=False)
    options: frozenset[str] = frozenset()

    def check_password(self, password: str) -> bool:
        """Whether ``password`` is this user's, compared in constant time
        (clear text passwords are compared as digests, so that not even
        their length shows in the time taken)."""
        if self.scheme == SCHEME_HA1:
            return hmac.compare_digest(ha1(self.name, password).encode(),
                                       self.secret.encode())
        return hmac.compare_digest(_digest(password), _digest(self.secret))

    def may(self, access: Iterable[str]) -> bool:
        """Whether the user holds one of ``access`` (``write`` implies
        ``read``)."""
        held = set(self.options)
        if ACCESS_WRITE in held:
            held.update(ACCESS_OPTIONS)
        return any(a in held for a in access)


@dataclasses.dataclass(frozen=True)
class Problem:
    """A line of the users file that was ignored, and why."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def ha1(user: str, password: str, realm: str = REALM) -> str:
    """RFC 2617's HA1: hex MD5 of ``user:realm:password``."""
    data = f"{user}:{realm}:{password}".encode("utf-8", "surrogateescape")
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _parse_password(text: str) -> tuple[str, str] | str:
    """(scheme, secret), or a message saying what is wrong."""
    if not text.startswith("{"):
        return SCHEME_CLEARTEXT, text
    match = _SCHEME.fullmatch(text)
    if match is None:
        return "password starts with '{' but has no {scheme} prefix"
    scheme, secret = match.group(1).lower(), match.group(2)
    if scheme == SCHEME_CLEARTEXT:
        return SCHEME_CLEARTEXT, secret
    if scheme == SCHEME_HA1:
        secret = secret.lower()
        if not _HEX_MD5.fullmatch(secret):
            return "{HA1} needs 32 hexadecimal digits"
        return SCHEME_HA1, secret
    return f"unknown password scheme {{{match.group(1)[:20]}}}"


def parse_users(text: str) -> tuple[dict[str, User], list[Problem]]:
    """The users of a users file, and the lines that were ignored."""
    users: dict[str, User] = {}
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        fields = _TOKEN.findall(stripped)
        if len(fields) not in (2, 3):
            problems.append(Problem(number, f"expected 'user password "
                                            f"[options]', got {len(fields)} "
                                            "field(s)"))
            continue
        name, password = fields[0], fields[1]
        parsed = _parse_password(password)
        if isinstance(parsed, str):
            problems.append(Problem(number, f"user {name[:40]!r}: {parsed}"))
            continue
        options: set[str] = set()
        if len(fields) == 3:
            for option in fields[2].split(","):
                option = option.strip().lower()
                if option in ACCESS_OPTIONS:
                    options.add(option)
                elif option:
                    problems.append(Problem(
                        number, f"user {name[:40]!r}: unknown option "
                                f"{option[:20]!r} ignored"))
        if name in users:
            problems.append(Problem(number, f"user {name[:40]!r} listed "
                                            "again; this line wins"))
        users[name] = User(name, parsed[0], parsed[1], frozenset(options))
    return users, problems


def format_line(name: str, password: str, options: Sequence[str] = (), *,
                hashed: bool = True) -> str:
    """One line of a users file; the password stored as ``{HA1}`` (or as
    ``{cleartext}`` with ``hashed=False``)."""
    if not _TOKEN.fullmatch(name) or name.startswith("#"):
        raise errors.ProgrammerError(f"Invalid RAPI user name {name!r}")
    if not _TOKEN.fullmatch(password) and not hashed:
        raise errors.ProgrammerError("A clear text RAPI password cannot "
                                     "contain whitespace")
    unknown = [o for o in options if o not in ACCESS_OPTIONS]
    if unknown:
        raise errors.ProgrammerError(f"Unknown RAPI user option(s): {unknown}")
    secret = ("{HA1}" + ha1(name, password) if hashed
              else "{cleartext}" + password)
    fields = [name, secret]
    if options:
        fields.append(",".join(options))
    return " ".join(fields)


def write_users_file(path: str,
                     entries: Iterable[tuple[str, str, Sequence[str]]], *,
                     hashed: bool = True, mode: int = 0o640) -> None:
    """Replace the users file at ``path`` (atomically) with one line per
    ``(name, clear text password, options)``.  A running daemon picks the
    new file up at its next request."""
    lines = ["# RAPI users: name password [options]; see ganeti-rapi(8)"]
    lines.extend(format_line(name, password, options, hashed=hashed)
                 for name, password, options in entries)
    io.write_file_atomic(path, "\n".join(lines) + "\n", mode=mode)


def generate_password() -> str:
    """A random password (about 144 bits, URL- and shell-safe), never
    starting with ``-``: command-line tools would take one given as the
    argument after ``--password`` for an option (1 in 64 did)."""
    while True:
        password = secrets.token_urlsafe(18)
        if not password.startswith("-"):
            return password


def create_user_file(path: str, name: str,
                     options: Sequence[str] = (ACCESS_WRITE,)) -> str:
    """Write a users file holding one user with a new random password and
    return that password (what a test or local cluster hands its client).
    """
    password = generate_password()
    write_users_file(path, [(name, password, options)])
    return password
