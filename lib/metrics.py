"""Prometheus metrics: families of samples and the text exposition format.

A :class:`Family` is one metric name with its help text, type and label
names; it holds one value per label-value tuple.  :class:`Counter`,
:class:`Gauge` and :class:`Histogram` add the operations of their type;
every operation takes the family's lock, so the master daemon's worker,
RPC and LUXI threads update them concurrently.

:func:`render` writes families in the text exposition format (version
0.0.4, what ``promtool check metrics`` reads): ``# HELP`` and ``# TYPE``
lines, then one line per sample.  Label values are escaped (backslash,
double quote and newline), help texts too (backslash and newline), so
any instance or node name yields a valid document.  Families without
samples are left out.

Names follow Prometheus' conventions (checked when a family is made):
a ``ganeti_`` prefix, base units (``_bytes``, ``_seconds``) and
``_total`` on counters.  See ``doc/design/monitoring.rst``.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, TypeVar

from ganeti import errors

#: The Content-Type of the text exposition format.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
PREFIX: Final = "ganeti_"
COUNTER: Final = "counter"
GAUGE: Final = "gauge"
HISTOGRAM: Final = "histogram"

_NAME_RE: Final = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE: Final = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
#: Buckets (seconds) for durations from a millisecond to ten minutes.
DURATION_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0,
                           10.0, 30.0, 60.0, 300.0, 600.0)

Labels = tuple[str, ...]
_INF_LE: Final = 'le="+Inf"'


def escape_label_value(value: str) -> str:
    """A label value as it goes between the double quotes."""
    if "\\" not in value and "\"" not in value and "\n" not in value:
        return value
    return (value.replace("\\", "\\\\").replace("\"", "\\\"")
            .replace("\n", "\\n"))


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value: integers without a fraction, infinities and NaN
    spelled as the format wants."""
    if type(value) is int:
        return str(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _labels_text(names: Sequence[str], values: Sequence[str],
                 extra: str = "") -> str:
    parts = [f'{n}="{escape_label_value(v)}"'
             for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Family:
    """One metric: name, help, type, label names and the values."""

    TYPE: str = GAUGE

    def __init__(self, name: str, help_text: str,
                 labels: Sequence[str] = ()) -> None:
        if not _NAME_RE.match(name) or not name.startswith(PREFIX):
            raise errors.ProgrammerError(f"Invalid metric name {name!r}")
        if (self.TYPE == COUNTER) != name.endswith("_total"):
            raise errors.ProgrammerError(
                f"Metric {name}: only counters end in _total, and they must")
        for label in labels:
            if not _LABEL_RE.match(label) or label.startswith("__") or \
                    label == "le":
                raise errors.ProgrammerError(
                    f"Metric {name}: invalid label name {label!r}")
        self.name = name
        self.help = help_text
        self.labels = tuple(labels)
        self._lock = threading.Lock()
        self._values: dict[Labels, float] = {}

    def _key(self, values: Sequence[object]) -> Labels:
        if len(values) != len(self.labels):
            raise errors.ProgrammerError(
                f"Metric {self.name}: {len(self.labels)} label values "
                f"expected, got {len(values)}")
        return tuple(str(v) for v in values)

    def value(self, *labels: object) -> float | None:
        """The current value for these label values (None: no sample)."""
        with self._lock:
            return self._values.get(self._key(labels))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def sample_lines(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        name = self.name
        if len(self.labels) == 1:  # the common case, done faster
            label = self.labels[0]
            return [f'{name}{{{label}="{escape_label_value(key[0])}"}} '
                    f"{format_value(value)}" for key, value in items]
        return [f"{name}{_labels_text(self.labels, key)} "
                f"{format_value(value)}" for key, value in items]

    def render(self) -> str:
        """HELP, TYPE and the samples; "" when there is no sample."""
        lines = self.sample_lines()
        if not lines:
            return ""
        head = (f"# HELP {self.name} {escape_help(self.help)}\n"
                f"# TYPE {self.name} {self.TYPE}\n")
        return head + "\n".join(lines) + "\n"


class Gauge(Family):
    TYPE = GAUGE

    def set(self, value: float, *labels: object) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def set_many(self, values: Iterable[tuple[str, float]]) -> None:
        """Set the samples of a one-label gauge from (label value, value)
        pairs under one lock (a scrape of 10,000 instances)."""
        if len(self.labels) != 1:
            raise errors.ProgrammerError(
                f"Metric {self.name}: set_many needs exactly one label")
        with self._lock:
            for label, value in values:
                self._values[(str(label),)] = value

    def add(self, amount: float, *labels: object) -> None:
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def remove(self, *labels: object) -> None:
        key = self._key(labels)
        with self._lock:
            self._values.pop(key, None)


class Counter(Family):
    TYPE = COUNTER

    def inc(self, amount: float = 1, *labels: object) -> None:
        if amount < 0:
            raise errors.ProgrammerError(
                f"Counter {self.name} cannot decrease (by {amount})")
        key = self._key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def set_total(self, value: float, *labels: object) -> None:
        """Set the counter from a total kept elsewhere (a kernel counter
        read at scrape time)."""
        key = self._key(labels)
        with self._lock:
            self._values[key] = value

    def touch(self, *labels: object) -> None:
        """Make the sample exist (at 0) before its first increment."""
        key = self._key(labels)
        with self._lock:
            self._values.setdefault(key, 0)


class _Buckets:
    __slots__ = ("count", "counts", "sum")

    def __init__(self, size: int) -> None:
        self.counts = [0] * size
        self.sum = 0.0
        self.count = 0


class Histogram(Family):
    """Observations counted in cumulative ``le`` buckets, plus ``_sum``
    and ``_count``."""

    TYPE = HISTOGRAM

    def __init__(self, name: str, help_text: str,
                 labels: Sequence[str] = (),
                 buckets: Sequence[float] = DURATION_BUCKETS) -> None:
        super().__init__(name, help_text, labels)
        if list(buckets) != sorted(set(buckets)) or not buckets:
            raise errors.ProgrammerError(
                f"Histogram {name}: buckets must increase")
        self.buckets = tuple(float(b) for b in buckets)
        self._hist: dict[Labels, _Buckets] = {}

    def observe(self, value: float, *labels: object) -> None:
        key = self._key(labels)
        slot = bisect.bisect_left(self.buckets, value)
        with self._lock:
            entry = self._hist.get(key)
            if entry is None:
                entry = self._hist[key] = _Buckets(len(self.buckets))
            if slot < len(self.buckets):
                entry.counts[slot] += 1
            entry.sum += value
            entry.count += 1

    def count(self, *labels: object) -> int:
        with self._lock:
            entry = self._hist.get(self._key(labels))
            return 0 if entry is None else entry.count

    def clear(self) -> None:
        with self._lock:
            self._hist.clear()

    def sample_lines(self) -> list[str]:
        with self._lock:
            items = sorted((key, list(e.counts), e.sum, e.count)
                           for key, e in self._hist.items())
        lines = []
        for key, counts, total, count in items:
            cumulative = 0
            for bound, hits in zip(self.buckets, counts, strict=True):
                cumulative += hits
                le = f'le="{format_value(bound)}"'
                lines.append(f"{self.name}_bucket"
                             f"{_labels_text(self.labels, key, le)} "
                             f"{cumulative}")
            lines.append(f"{self.name}_bucket"
                         f"{_labels_text(self.labels, key, _INF_LE)} "
                         f"{count}")
            labels = _labels_text(self.labels, key)
            lines.append(f"{self.name}_sum{labels} {format_value(total)}")
            lines.append(f"{self.name}_count{labels} {count}")
        return lines


_F = TypeVar("_F", bound=Family)


class Registry:
    """An ordered set of families, rendered together."""

    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def add(self, family: _F) -> _F:
        if family.name in self._families:
            raise errors.ProgrammerError(
                f"Metric {family.name} registered twice")
        self._families[family.name] = family
        return family

    def gauge(self, name: str, help_text: str,
              labels: Sequence[str] = ()) -> Gauge:
        return self.add(Gauge(name, help_text, labels))

    def counter(self, name: str, help_text: str,
                labels: Sequence[str] = ()) -> Counter:
        return self.add(Counter(name, help_text, labels))

    def histogram(self, name: str, help_text: str,
                  labels: Sequence[str] = (),
                  buckets: Sequence[float] = DURATION_BUCKETS) -> Histogram:
        return self.add(Histogram(name, help_text, labels, buckets))

    def __iter__(self) -> Iterator[Family]:
        return iter(list(self._families.values()))

    def render(self) -> str:
        return render(self)


def render(families: Iterable[Family]) -> str:
    """The exposition text of ``families`` (those with samples)."""
    return "".join(family.render() for family in families)
