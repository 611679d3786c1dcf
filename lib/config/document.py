"""Incremental encoding of the config document.

The master rewrites ``config.data`` after every change, and a large
cluster's document is several megabytes; encoding all of it each time
would dominate the cost of a job.  :class:`DocumentEncoder` keeps the
encoded bytes of every node and instance and re-encodes only the objects
that changed, then splices the pieces together.

The result is byte-identical to ``serializer.dumps(data.to_dict())``: the
serializer is compact and sorts keys, so a dictionary's encoding is its
sorted items joined by commas, and that can be assembled from cached
item encodings (a test checks the identity after every kind of change).

A cached piece is used only while the very same object is stored under
its name (the cache holds a reference, so identity is reliable); the
writer also drops entries explicitly when it changes an object in place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ganeti import objects, serializer
from ganeti.records import Record

#: The sections of :class:`objects.ConfigData` cached per object.
SECTIONS: Final = ("nodes", "instances")


class DocumentEncoder:
    """Encodes :class:`objects.ConfigData`, reusing unchanged pieces."""

    def __init__(self) -> None:
        self._cache: dict[str, dict[str, tuple[Record, bytes]]] = {
            section: {} for section in SECTIONS}

    def invalidate(self, section: str, name: str) -> None:
        """Forget the encoding of one object (changed in place)."""
        self._cache[section].pop(name, None)

    def clear(self) -> None:
        for cache in self._cache.values():
            cache.clear()

    def _section(self, section: str, objs: Mapping[str, Record]) -> bytes:
        cache = self._cache[section]
        parts: list[bytes] = []
        for name in sorted(objs):
            obj = objs[name]
            cached = cache.get(name)
            if cached is None or cached[0] is not obj:
                # The item as it appears inside the section: "name":{...}
                item = serializer.dumps(name) + b":" + serializer.dumps(
                    obj.to_dict())
                cache[name] = cached = (obj, item)
            parts.append(cached[1])
        if len(cache) != len(objs):
            for name in [n for n in cache if n not in objs]:
                del cache[name]
        return b"{" + b",".join(parts) + b"}"

    def encode(self, data: objects.ConfigData) -> bytes:
        """The compact, sorted JSON of ``data`` (as ``serializer.dumps``)."""
        parts: list[bytes] = []
        for name, spec in sorted(data.fields().items()):
            value = getattr(data, name)
            if name in SECTIONS:
                piece = self._section(name, value)
            else:
                piece = serializer.dumps(spec.conv.encode(value))
            parts.append(serializer.dumps(name) + b":" + piece)
        return b"{" + b",".join(parts) + b"}"
