"""The exposition encoder and the metric families (ganeti.metrics)."""

from __future__ import annotations

import math
import threading

import pytest
from metrics_check import promtool_check, samples, value

from ganeti import errors, metrics


def test_label_values_are_escaped() -> None:
    nasty = 'in"st\\ance\nname'
    gauge = metrics.Gauge("ganeti_test_state", "A state", ["name"])
    gauge.set(1, nasty)
    text = metrics.render([gauge])
    assert 'name="in\\"st\\\\ance\\nname"' in text
    assert text.count("\n") == 3  # HELP, TYPE, one sample: no raw newline
    assert value(text, "ganeti_test_state", name=nasty) == 1
    promtool_check(text)


def test_help_is_escaped() -> None:
    gauge = metrics.Gauge("ganeti_test_help", "back\\slash\nnewline")
    gauge.set(2)
    text = metrics.render([gauge])
    assert text.splitlines()[0] == \
        "# HELP ganeti_test_help back\\\\slash\\nnewline"
    promtool_check(text)


@pytest.mark.parametrize(("number", "shown"), [
    (3, "3"), (2.0, "2"), (0.25, "0.25"), (True, "1"),
    (math.inf, "+Inf"), (-math.inf, "-Inf"), (math.nan, "NaN"),
    (1e20, "1e+20")])
def test_format_value(number: float, shown: str) -> None:
    assert metrics.format_value(number) == shown


def test_counter_histogram_gauge_render_and_pass_promtool() -> None:
    reg = metrics.Registry()
    jobs = reg.counter("ganeti_test_jobs_total", "Jobs", ["status"])
    jobs.inc(1, "success")
    jobs.inc(2, "success")
    jobs.touch("error")
    hist = reg.histogram("ganeti_test_duration_seconds", "Durations",
                         ["opcode"], buckets=(0.1, 1.0))
    for seconds in (0.05, 0.5, 5.0):
        hist.observe(seconds, "OP_TEST")
    reg.gauge("ganeti_test_empty", "Never set")  # no samples: left out
    text = reg.render()
    found = samples(text)
    assert found[("ganeti_test_jobs_total",
                  frozenset({("status", "success")}))] == 3
    assert value(text, "ganeti_test_jobs_total", status="error") == 0

    def bucket(le: str) -> float | None:
        return value(text, "ganeti_test_duration_seconds_bucket",
                     opcode="OP_TEST", le=le)

    assert (bucket("0.1"), bucket("1"), bucket("+Inf")) == (1, 2, 3)
    assert value(text, "ganeti_test_duration_seconds_count",
                 opcode="OP_TEST") == 3
    assert value(text, "ganeti_test_duration_seconds_sum",
                 opcode="OP_TEST") == 5.55
    assert "ganeti_test_empty" not in text
    promtool_check(text)


@pytest.mark.parametrize(("cls", "name", "labels"), [
    (metrics.Gauge, "node_memory_bytes", ()),          # no ganeti_ prefix
    (metrics.Gauge, "ganeti_bad-name", ()),
    (metrics.Gauge, "ganeti_jobs_total", ()),          # _total on a gauge
    (metrics.Counter, "ganeti_jobs", ()),              # counter without it
    (metrics.Gauge, "ganeti_x", ("le",)),              # reserved label
    (metrics.Gauge, "ganeti_x", ("__name",)),
    (metrics.Gauge, "ganeti_x", ("bad label",)),
])
def test_bad_names_are_refused(cls: type[metrics.Family], name: str,
                               labels: tuple[str, ...]) -> None:
    with pytest.raises(errors.ProgrammerError):
        cls(name, "help", labels)


def test_wrong_label_count_and_negative_increment_are_refused() -> None:
    counter = metrics.Counter("ganeti_test_total", "t", ["node"])
    with pytest.raises(errors.ProgrammerError):
        counter.inc(1)
    with pytest.raises(errors.ProgrammerError):
        counter.inc(-1, "node1")
    reg = metrics.Registry()
    reg.add(counter)
    with pytest.raises(errors.ProgrammerError):
        reg.add(metrics.Counter("ganeti_test_total", "again"))


def test_concurrent_increments_are_not_lost() -> None:
    counter = metrics.Counter("ganeti_test_total", "t")
    hist = metrics.Histogram("ganeti_test_seconds", "t")

    def work() -> None:
        for _ in range(2000):
            counter.inc()
            hist.observe(0.01)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.value() == 8000
    assert hist.count() == 8000
