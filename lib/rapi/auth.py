"""HTTP Basic authentication against the users file, and access checks.

The file is re-read when it changes: every request compares the file's
identity (device, inode, size, modification and change times) with the
one last read, which costs one ``stat``; SIGHUP forces a re-read.  A
missing or unreadable file means no user can authenticate (anonymous
reads still work unless authentication is required).

Access, as Ganeti's: each method of a resource declares what a user must
hold.  Reads declare nothing and are open to anyone unless the daemon
runs with ``--require-authentication``, in which case a user with
``read`` or ``write`` is needed; writes need ``write``.  Missing or wrong
credentials are answered 401 with the realm, an authenticated user
without the access 403.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from typing import Final

from ganeti import errors, http
from ganeti.rapi import ACCESS_OPTIONS, REALM, users
from ganeti.utils import io

HTTP_UNAUTHORIZED: Final = 401
CHALLENGE: Final = {"WWW-Authenticate": f'Basic realm="{REALM}"'}

_log = logging.getLogger("ganeti.rapi.auth")

_Signature = tuple[int, int, int, int, int]


def _signature(path: str) -> _Signature | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class UsersFile:
    """The users of a users file, re-read whenever the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._signature: _Signature | None = None
        self._users: dict[str, users.User] = {}
        self._loaded = False
        self._missing_reported = False

    def users(self) -> Mapping[str, users.User]:
        """The current users (re-read first if the file changed)."""
        signature = _signature(self.path)
        with self._lock:
            if not self._loaded or signature != self._signature:
                self._load(signature)
            return self._users

    def reload(self) -> None:
        """Re-read the file now (SIGHUP)."""
        with self._lock:
            self._load(_signature(self.path))

    def _load(self, signature: _Signature | None) -> None:
        self._loaded = True
        self._signature = signature
        if signature is None:
            if not self._missing_reported:
                _log.warning("RAPI users file %s not found: no user can "
                             "authenticate", self.path)
                self._missing_reported = True
            self._users = {}
            return
        self._missing_reported = False
        try:
            text = io.read_file(self.path)
        except errors.GenericError as err:
            _log.error("Cannot read the RAPI users file: %s", err)
            self._users = {}
            return
        found, problems = users.parse_users(text)
        for problem in problems:
            _log.warning("RAPI users file %s, %s", self.path, problem)
        _log.info("Loaded %d RAPI user(s) from %s", len(found), self.path)
        self._users = found


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, or None
    when there is none or it cannot be decoded."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
        text = decoded.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    name, sep, password = text.partition(":")
    if not sep:
        return None
    return name, password


class Authenticator:
    """Decides whether a request may proceed (see the module doc)."""

    def __init__(self, users_file: UsersFile, *,
                 require_authentication: bool = False) -> None:
        self.users_file = users_file
        self.require_authentication = require_authentication

    def check(self, headers: Mapping[str, str], access: Sequence[str],
              client: str) -> str | None:
        """The authenticated user name (None: anonymous and allowed).

        Raises a 401 :class:`~ganeti.http.HttpError` for missing or wrong
        credentials and a 403 one for a user lacking ``access``.
        """
        if not access and not self.require_authentication:
            return None
        needed = tuple(access) or tuple(sorted(ACCESS_OPTIONS))
        credentials = parse_basic(headers.get("Authorization"))
        if credentials is None:
            raise http.HttpError(HTTP_UNAUTHORIZED,
                                 "Authentication required", headers=CHALLENGE)
        name, password = credentials
        user = self.users_file.users().get(name)
        if user is None or not user.check_password(password):
            _log.warning("Failed RAPI login for user %r from %s", name[:64],
                         client)
            raise http.HttpError(HTTP_UNAUTHORIZED,
                                 "Wrong user name or password",
                                 headers=CHALLENGE)
        if not user.may(needed):
            _log.info("RAPI user %r from %s lacks %s access", name, client,
                      "/".join(needed))
            raise http.HttpError(
                http.HTTP_FORBIDDEN,
                f"User {name!r} lacks the {' or '.join(needed)} access "
                "needed for this request")
        return name
