"""The settings and value strategies the fuzzing tests share (see
doc/design/fuzzing.rst); their fixtures are in ``fuzz_cluster_support``.

The number of examples per target is small in the suite and set with
``GANETI_FUZZ_EXAMPLES`` for a longer run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Final

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Examples per fuzzed target in the suite; raise it for a longer run.
EXAMPLES = int(os.environ.get("GANETI_FUZZ_EXAMPLES", "3"))

#: The hypothesis settings of every fuzzing test.
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=False,
    suppress_health_check=list(HealthCheck), database=None)

def json_values(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    """Any JSON value: huge and negative integers, floats, odd text."""
    scalars = (st.none() | st.booleans()
               | st.integers() | st.integers(min_value=-2**70, max_value=2**70)
               | st.sampled_from([10**400, -10**400, 2**63, -1, 0])
               | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=40))
    return st.recursive(scalars, _containers, max_leaves=max_leaves)


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    lists = st.lists(inner, max_size=4)
    objects = st.dictionaries(st.text(max_size=10), inner, max_size=4)
    return st.one_of(lists, objects)


#: Values that pass common checks, so that drawn calls also reach the
#: handlers behind the argument checks (with edge values).
TYPICAL: Final[list[Any]] = [
    None, True, False, 0, 1, 7, -1, 2**63, 10**400, -10**400, 0.5, 1e308,
    "", "1", "x", "name", "status", "node1", "/", "/tmp/../etc/passwd",
    "plain", "file", "drbd", "instance", "node", "cluster", "lvm-vg",
    "\x00", "\u00e9\u2603", [], [0], [""], ["name"], ["status", "id"],
    ["x"] * 3, {}, {"x": 1}, [{}], [[{}]], [{"OP_ID": "OP_TEST_DELAY"}],
    [{"OP_ID": "OP_TEST_DELAY", "duration": 0}], [[]],
]


def argument(check: Callable[[Any], bool]) -> st.SearchStrategy[Any]:
    """A value for an argument: a typical one the check accepts (most
    often), a typical one, or any JSON value."""
    accepted = [v for v in TYPICAL if check(v)]
    other = st.sampled_from(TYPICAL) | json_values()
    if not accepted:
        return other
    # weighted: four calls in five should pass the checks
    return st.integers(0, 4).flatmap(
        lambda k: other if k == 0 else st.sampled_from(accepted))


def argument_lists(checks: Sequence[Callable[[Any], bool]]
                   ) -> st.SearchStrategy[list[Any]]:
    """Argument lists for a call taking ``checks``: of the right length
    (each value from :func:`argument`) or of any length."""
    right = st.tuples(*[argument(c) for c in checks]).map(list)
    return right | right | st.lists(json_values(), max_size=len(checks) + 2)
