"""Case-insensitive name lookup and short-name expansion.

Node and instance names are host names, and host names are compared
without regard to case (as Ganeti 2.1 does): ``NODE1.Example.COM`` and
``node1.example.com`` are the same node, and the config never holds both.
The spelling first given is the one stored and shown.
"""

from __future__ import annotations

from collections.abc import Iterable


class NameIndex:
    """Case-insensitive lookup over a set of names.

    Holds the stored spelling of every name under its lower-case form, so
    lookups cost one dictionary access.  :meth:`expand` implements the
    short-name expansion of the command line tools.
    """

    __slots__ = ("_by_lower",)

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._by_lower: dict[str, str] = {n.lower(): n for n in names}

    def add(self, name: str) -> None:
        self._by_lower[name.lower()] = name

    def discard(self, name: str) -> None:
        self._by_lower.pop(name.lower(), None)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_lower

    def __len__(self) -> int:
        return len(self._by_lower)

    def lookup(self, name: str) -> str | None:
        """The stored spelling of ``name`` (any case), or None."""
        return self._by_lower.get(name.lower())

    def expand(self, name: str) -> str | None:
        """Expand a possibly short or differently cased name.

        In order: an exact or case-insensitive match of the whole name;
        else the one name whose leading DNS labels equal ``name`` (``node1``
        and ``node1.example`` both expand to ``node1.example.com``, while
        ``node1`` never matches ``node10.example.com``).  No match, or more
        than one name with those leading labels, gives None: an ambiguous
        short name is refused rather than guessed.
        """
        if not name:
            return None
        key = name.lower().rstrip(".")
        found = self._by_lower.get(key)
        if found is not None:
            return found
        prefix = key + "."
        matches = [stored for lower, stored in self._by_lower.items()
                   if lower.startswith(prefix)]
        if len(matches) == 1:
            return matches[0]
        return None
