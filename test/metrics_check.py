"""What the metrics tests share: ``promtool check metrics`` on a text,
and a small parser of the exposition format to read sample values.

Importable as ``metrics_check`` from every test module.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

_SAMPLE_RE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})? '
    r'(?P<value>\S+)$')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Key = tuple[str, frozenset[tuple[str, str]]]


def promtool_check(text: str) -> None:
    """Fail the test unless ``promtool check metrics`` accepts ``text``
    with no problem; skip where promtool is not installed."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) not installed")
    res = subprocess.run([promtool, "check", "metrics"], input=text,
                         capture_output=True, text=True, timeout=60,
                         check=False)
    assert res.returncode == 0 and not res.stdout.strip() \
        and not res.stderr.strip(), (res.returncode, res.stdout, res.stderr)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], value)


def samples(text: str) -> dict[Key, float]:
    """``{(name, frozenset of (label, value)): value}`` of every sample."""
    found: dict[Key, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE_RE.match(line)
        assert match, f"not a sample line: {line!r}"
        labels = frozenset((k, _unescape(v))
                           for k, v in _LABEL_RE.findall(match["labels"] or ""))
        found[(match["name"], labels)] = float(match["value"])
    return found


def value(text: str, metric: str, **labels: str) -> float | None:
    """The value of one sample (None when absent)."""
    return samples(text).get((metric, frozenset(labels.items())))
