"""Finding and reading OS definitions on a node.

An OS definition is a directory named after the OS in one of the OS search
path entries (``pathutils.get().os_search_path``).  What it must hold
depends on the OS API version it speaks:

========  ===========================================================
API 10    ``create``, ``import``, ``export``, ``rename`` (executable
          regular files) and ``ganeti_api_version``
API 15    as 10, plus ``variants.list`` (optional; missing or empty
          means the OS has no variants)
API 20    as 15, plus ``verify`` (executable) and ``parameters.list``
          (``name description`` per line; may be empty)
========  ===========================================================

``ganeti_api_version`` lists one version per line (blank lines ignored);
the highest version that this code also supports is the one spoken.  Files
belonging to a higher API than the one spoken are ignored.

Lookup: the first search path entry that holds a directory of the OS's
name wins, even when that definition is invalid -- a broken OS earlier in
the path is reported, never silently skipped over, so every node resolves
a name the same way.  :func:`list_os` reports every directory of every
entry (valid or not, and whether it is shadowed by an earlier entry) for
``gnt-os list`` and ``gnt-os diagnose``.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ganeti import constants, errors, params, pathutils

#: The API versions this code speaks.
SUPPORTED_API_VERSIONS: Final = frozenset(constants.OS_API_VERSIONS)

#: Scripts every OS needs, in the order their problems are reported.
BASE_SCRIPTS: Final = (constants.OS_SCRIPT_CREATE, constants.OS_SCRIPT_IMPORT,
                       constants.OS_SCRIPT_EXPORT, constants.OS_SCRIPT_RENAME)

#: OS names: one path component without the variant separator.
_OS_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@%=,-]*")
#: Variant names: what may follow ``+`` in ``os+variant``.
VARIANT_RE: Final = re.compile(r"[A-Za-z0-9_.:@%=,-]+")
#: OS parameter names; ``OSP_<NAME>`` must be a valid variable name.
PARAM_NAME_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_VERSION_RE: Final = re.compile(r"[0-9]+")

#: Largest text file of a definition that is read (a list, not a disk image).
_MAX_LIST_SIZE: Final = 1 << 20


class InvalidOS(errors.OpPrereqError):
    """An OS definition is missing or malformed on this node.

    Nothing was changed; the OS installation must be fixed.  ``details``
    carry ``os_name``, ``path`` and ``reason`` (the message without the
    OS name and path, as ``gnt-os diagnose`` shows it).
    """

    default_code = errors.ErrorCode.ENVIRON


def required_scripts(api_version: int) -> tuple[str, ...]:
    """The scripts an OS speaking ``api_version`` must provide."""
    if api_version >= constants.OS_API_V20:
        return (*BASE_SCRIPTS, constants.OS_SCRIPT_VERIFY)
    return BASE_SCRIPTS


@dataclass(frozen=True)
class OsDefinition:
    """A valid OS definition found on this node."""

    name: str
    #: The directory of the definition (scripts run with it as cwd).
    path: str
    #: Every version ``ganeti_api_version`` lists, highest first.
    api_versions: tuple[int, ...]
    #: The version spoken: the highest one listed that is supported.
    api_version: int
    #: Script name -> absolute path, for the scripts of ``api_version``.
    scripts: dict[str, str]
    #: Variants from ``variants.list`` (API >= 15); the first is the default.
    variants: tuple[str, ...] = ()
    #: Parameter name -> description from ``parameters.list`` (API >= 20).
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def default_variant(self) -> str | None:
        return self.variants[0] if self.variants else None

    @property
    def supports_variants(self) -> bool:
        return bool(self.variants)

    @property
    def supports_parameters(self) -> bool:
        return self.api_version >= constants.OS_API_V20

    def script_path(self, script: str) -> str:
        """The path of ``script``; an OS without it raises :class:`InvalidOS`."""
        try:
            return self.scripts[script]
        except KeyError:
            raise InvalidOS(
                f"OS {self.name!r} ({self.path}) has no {script} script "
                f"(it speaks OS API {self.api_version})",
                os_name=self.name, path=self.path,
                reason=f"no {script} script") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for RPC results and ``gnt-os`` output."""
        return {
            "name": self.name,
            "path": self.path,
            "api_versions": list(self.api_versions),
            "api_version": self.api_version,
            "variants": list(self.variants),
            "parameters": [[k, v] for k, v in self.parameters.items()],
        }


@dataclass(frozen=True)
class OsDiagnosis:
    """One directory found in the search path, valid or not."""

    name: str
    path: str
    #: The definition when valid, else None.
    definition: OsDefinition | None
    #: Why the definition is invalid ("" when valid).
    error: str = ""
    #: An earlier search path entry holds an OS of the same name, which
    #: is the one used.
    shadowed: bool = False

    @property
    def valid(self) -> bool:
        return self.definition is not None

    def to_dict(self) -> dict[str, Any]:
        osdef = self.definition
        return {
            "name": self.name,
            "path": self.path,
            "valid": self.valid,
            "error": self.error,
            "shadowed": self.shadowed,
            "api_versions": list(osdef.api_versions) if osdef else [],
            "variants": list(osdef.variants) if osdef else [],
            "parameters": ([[k, v] for k, v in osdef.parameters.items()]
                           if osdef else []),
        }


class _Malformed(Exception):
    """Internal: a reason a definition is invalid (becomes InvalidOS)."""


# --- Reading the files -------------------------------------------------------

def _read_lines(os_dir: str, filename: str, *,
                required: bool) -> list[str] | None:
    """The lines of a text file of the definition; None when it is missing
    and not required."""
    path = os.path.join(os_dir, filename)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if required:
            raise _Malformed(f"{filename} missing") from None
        return None
    except OSError as err:
        raise _Malformed(f"{filename}: cannot access: "
                         f"{err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _Malformed(f"{filename} is not a regular file")
    if info.st_size > _MAX_LIST_SIZE:
        raise _Malformed(f"{filename} is too large ({info.st_size} bytes)")
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_LIST_SIZE + 1)
    except OSError as err:
        raise _Malformed(f"{filename}: cannot read: "
                         f"{err.strerror or err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _Malformed(f"{filename}: not valid UTF-8 text "
                         f"(byte {err.start})") from None
    return text.splitlines()


def parse_api_versions(lines: Sequence[str]) -> tuple[int, ...]:
    """Versions listed in ``ganeti_api_version`` (highest first, unique)."""
    found: list[int] = []
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if not _VERSION_RE.fullmatch(line):
            raise _Malformed(f"{constants.OS_API_FILE}: line {lineno} "
                             f"is not a number")
        value = int(line)
        if value not in found:
            found.append(value)
    if not found:
        raise _Malformed(f"{constants.OS_API_FILE}: no version listed")
    return tuple(sorted(found, reverse=True))


def choose_api_version(versions: Iterable[int]) -> int:
    """The highest listed version this code supports."""
    listed = sorted(set(versions), reverse=True)
    common = [v for v in listed if v in SUPPORTED_API_VERSIONS]
    if not common:
        shown = ", ".join(map(str, listed))
        supported = ", ".join(map(str, sorted(SUPPORTED_API_VERSIONS)))
        raise _Malformed(f"{constants.OS_API_FILE}: no supported version "
                         f"(lists {shown}; supported: {supported})")
    return common[0]


def parse_variants(lines: Sequence[str]) -> tuple[str, ...]:
    """Variants from ``variants.list``: one per line, blank lines ignored,
    repeats dropped (the first occurrence keeps its place)."""
    found: list[str] = []
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if not VARIANT_RE.fullmatch(line):
            raise _Malformed(f"{constants.OS_VARIANTS_FILE}: line {lineno}: "
                             f"{line[:40]!r} is not a valid variant name")
        if line not in found:
            found.append(line)
    return tuple(found)


def parse_parameters(lines: Sequence[str]) -> dict[str, str]:
    """Parameters from ``parameters.list``: ``name description`` per line
    (the description may be empty), blank lines ignored, the first
    declaration of a name wins."""
    found: dict[str, str] = {}
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split(None, 1)
        name = parts[0]
        description = parts[1] if len(parts) > 1 else ""
        if not PARAM_NAME_RE.fullmatch(name):
            raise _Malformed(f"{constants.OS_PARAMETERS_FILE}: line {lineno}:"
                             f" {name[:40]!r} is not a valid parameter name")
        found.setdefault(name, description)
    return found


def _check_script(os_dir: str, script: str) -> str:
    path = os.path.join(os_dir, script)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise _Malformed(f"{script} script missing") from None
    except OSError as err:
        raise _Malformed(f"{script} script: cannot access: "
                         f"{err.strerror or err}") from None
    if not stat.S_ISREG(info.st_mode):
        raise _Malformed(f"{script} script not a regular file")
    if not info.st_mode & stat.S_IXUSR:
        raise _Malformed(f"{script} script not executable")
    return path


def _load(name: str, os_dir: str) -> OsDefinition:
    """Read the definition in ``os_dir``; raises :class:`_Malformed`."""
    if not os.path.isdir(os_dir):
        raise _Malformed("not a directory")
    lines = _read_lines(os_dir, constants.OS_API_FILE, required=True)
    assert lines is not None
    versions = parse_api_versions(lines)
    api = choose_api_version(versions)
    scripts = {s: _check_script(os_dir, s) for s in required_scripts(api)}
    variants: tuple[str, ...] = ()
    if api >= constants.OS_API_V15:
        vlines = _read_lines(os_dir, constants.OS_VARIANTS_FILE,
                             required=False)
        variants = parse_variants(vlines or [])
    parameters: dict[str, str] = {}
    if api >= constants.OS_API_V20:
        plines = _read_lines(os_dir, constants.OS_PARAMETERS_FILE,
                             required=True)
        parameters = parse_parameters(plines or [])
    return OsDefinition(name=name, path=os_dir, api_versions=versions,
                        api_version=api, scripts=scripts, variants=variants,
                        parameters=parameters)


def _invalid(name: str, path: str, reason: str) -> InvalidOS:
    return InvalidOS(f"Invalid OS {name!r} ({path}): {reason}",
                     os_name=name, path=path, reason=reason)


def load_os(name: str, os_dir: str) -> OsDefinition:
    """Read the definition of OS ``name`` in the directory ``os_dir``.

    A malformed definition raises :class:`InvalidOS` saying what is wrong.
    """
    try:
        return _load(name, os_dir)
    except _Malformed as err:
        raise _invalid(name, os_dir, str(err)) from None


# --- Search ------------------------------------------------------------------

def _search_path(search_path: Sequence[str] | None) -> tuple[str, ...]:
    if search_path is None:
        return pathutils.get().os_search_path
    if isinstance(search_path, str):
        raise errors.ProgrammerError(
            f"OS search path must be a sequence of directories, not a "
            f"string: {search_path!r:.80}")
    return tuple(search_path)


def check_os_name(name: str) -> str:
    """The base name of ``name`` (``os+variant`` allowed), checked."""
    if not isinstance(name, str):
        raise errors.OpPrereqError(f"Invalid OS name {name!r:.60}")
    base, _ = params.split_os_name(name)
    if not _OS_NAME_RE.fullmatch(base):
        raise errors.OpPrereqError(f"Invalid OS name {name!r:.60}")
    return base


def find_os(name: str, search_path: Sequence[str] | None = None) -> OsDefinition:
    """The definition of OS ``name`` (a ``+variant`` suffix is ignored).

    The first search path entry holding a directory of that name wins.
    Raises :class:`InvalidOS` (code ``NOENT``) when no entry has it, or
    (code ``ENVIRON``) when the winning definition is malformed.
    """
    base = check_os_name(name)
    dirs = _search_path(search_path)
    for entry in dirs:
        candidate = os.path.join(entry, base)
        if os.path.isdir(candidate):
            return load_os(base, candidate)
    where = ":".join(dirs) or "(empty search path)"
    raise InvalidOS(f"OS {base!r} not found in the OS search path ({where})",
                    errors.ErrorCode.NOENT, os_name=base, path="",
                    reason="not found in the OS search path")


def list_os(search_path: Sequence[str] | None = None) -> list[OsDiagnosis]:
    """Every directory of every search path entry, in search order (entries
    in path order, names sorted within an entry), each diagnosed.

    Missing search path entries are skipped; non-directory files in an
    entry are not OS definitions and are not listed.
    """
    seen: set[str] = set()
    result: list[OsDiagnosis] = []
    for entry in _search_path(search_path):
        try:
            names = sorted(os.listdir(entry))
        except OSError:
            continue
        for name in names:
            path = os.path.join(entry, name)
            if not os.path.isdir(path):
                continue
            shadowed = name in seen
            seen.add(name)
            if not _OS_NAME_RE.fullmatch(name):
                result.append(OsDiagnosis(
                    name=name, path=path, definition=None,
                    error="directory name is not a valid OS name",
                    shadowed=shadowed))
                continue
            try:
                osdef = _load(name, path)
            except _Malformed as err:
                result.append(OsDiagnosis(name=name, path=path,
                                          definition=None, error=str(err),
                                          shadowed=shadowed))
            else:
                result.append(OsDiagnosis(name=name, path=path,
                                          definition=osdef,
                                          shadowed=shadowed))
    return result


# --- Variants ----------------------------------------------------------------

def require_variant(variants: Sequence[str], requested_name: str) -> None:
    """Refuse an OS name without a variant for an OS that has variants
    (Ganeti's rule at instance add, at reinstall with a new OS, and at
    an OS change; ``--force-variant`` skips it)."""
    if variants and not params.split_os_name(requested_name)[1]:
        raise errors.ParameterError(
            f"OS name '{requested_name}' must include a variant (one of"
            f" {', '.join(variants)})", parameter="os_name")


def resolve_variant(osdef: OsDefinition, requested_name: str,
                    force_variant: bool = False) -> str | None:
    """The variant to install for ``requested_name`` (``os`` or
    ``os+variant``).

    No variant given: the OS's default (first listed), or None for an OS
    without variants.  A variant the OS does not list is refused unless
    ``force_variant``; any variant is refused for an OS without variants.
    Errors are :class:`~ganeti.errors.ParameterError`.
    """
    base, variant = params.split_os_name(requested_name)
    if base != osdef.name:
        raise errors.ParameterError(
            f"OS name {requested_name!r} does not match the definition "
            f"{osdef.name!r}", parameter="os_name")
    if not osdef.supports_variants:
        if variant:
            raise errors.ParameterError(
                f"OS {osdef.name!r} does not support variants "
                f"({variant!r} requested)", parameter="os_name")
        return None
    if not variant:
        return osdef.default_variant
    if not VARIANT_RE.fullmatch(variant):
        raise errors.ParameterError(
            f"Invalid variant name {variant[:40]!r} for OS {osdef.name!r}",
            parameter="os_name")
    if variant not in osdef.variants:
        if force_variant:
            return variant
        supported = ", ".join(osdef.variants)
        raise errors.ParameterError(
            f"Unsupported variant {variant!r} of OS {osdef.name!r} "
            f"(supported: {supported}); use --force-variant to use it anyway",
            parameter="os_name")
    return variant
