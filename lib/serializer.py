"""JSON encoding for everything that leaves the process.

Config files, job files, LUXI messages and node RPC bodies all use this
one codec, so its output is deterministic: keys are sorted and the
separators are compact, which makes equal documents byte-identical (the
config writer and the tests rely on it).  Text is UTF-8.

Non-finite numbers (``NaN``, ``Infinity``) are not JSON; they are refused
both ways, because other JSON readers (RAPI clients) cannot parse them.

Speed matters: the master re-encodes the whole config on every change, so
the encoder is the C-accelerated one of the standard library (measured to
be as fast as simplejson's for config documents, and faster to decode).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from ganeti import errors

_COMPACT: Final = json.JSONEncoder(
    skipkeys=False, ensure_ascii=False, check_circular=True, allow_nan=False,
    sort_keys=True, separators=(",", ":"))
_PRETTY: Final = json.JSONEncoder(
    skipkeys=False, ensure_ascii=False, check_circular=True, allow_nan=False,
    sort_keys=True, indent=2, separators=(",", ": "))


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed")


_DECODER: Final = json.JSONDecoder(parse_constant=_reject_constant)
#: The decoder's C scanner: a document that starts at its first character
#: and ends at its last (what this module's encoder writes) is decoded by
#: one call of it, without the two whitespace regex matches and checks
#: of ``JSONDecoder.decode`` (1.7 us for a node's ``[true,30]``, 0.4 us
#: this way: node RPC decodes one answer per node and call).
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = (
    _DECODER.scan_once)  # type: ignore[attr-defined]  # set in __init__


def _encode(encoder: json.JSONEncoder, obj: Any) -> str:
    try:
        return encoder.encode(obj)
    except (TypeError, ValueError, RecursionError) as err:
        raise errors.ProgrammerError(
            f"Cannot encode value as JSON: {err}") from None


def dumps(obj: Any) -> bytes:
    """Encode ``obj`` compactly: sorted keys, no spaces, UTF-8 bytes.

    Values that JSON cannot represent (sets, objects, NaN) are a caller's
    bug and raise :class:`~ganeti.errors.ProgrammerError`.
    """
    return _encode(_COMPACT, obj).encode("utf-8")


def dumps_pretty(obj: Any) -> str:
    """Encode ``obj`` for humans: indented, sorted keys, final newline."""
    return _encode(_PRETTY, obj) + "\n"


def loads(data: bytes | bytearray | str) -> Any:
    """Decode one JSON document.

    Malformed input (bad syntax, trailing data, invalid UTF-8, ``NaN`` or
    ``Infinity``) raises :class:`~ganeti.errors.ProtocolError` with a
    one-line message that gives the position.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as err:
            raise errors.ProtocolError(
                f"Invalid JSON: not UTF-8 at byte {err.start}") from None
    elif isinstance(data, str):
        text = data
    else:
        raise errors.ProgrammerError(
            f"Cannot decode JSON from {type(data).__name__}")
    try:
        obj, end = _SCAN(text, 0)
    except Exception:  # decoded again below, for the message
        pass
    else:
        if end == len(text):
            return obj
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as err:
        raise errors.ProtocolError(
            f"Invalid JSON: {err.msg} at line {err.lineno} column {err.colno}"
            f" (char {err.pos})") from None
    except ValueError as err:  # a rejected constant
        raise errors.ProtocolError(f"Invalid JSON: {err}") from None
    except RecursionError:
        raise errors.ProtocolError("Invalid JSON: nested too deeply") from None
