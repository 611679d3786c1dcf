"""Every number an operation accepts has an upper bound, checked at the
edge: no value reaches Python internals (``OverflowError: timestamp too
large``) or a node (a 10^20-byte disk) before being refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from ganeti import constants, errors, ht, opcodes, params

#: Values no number of any operation may take.
HUGE: list[Any] = [10**30, 2**63, 1e300, float("inf"), float("nan")]

#: How a field holding numbers is probed: a small value accepted, in the
#: shape of the field (a number, a list of numbers, a list of
#: [index, changes] pairs), then the same shape with each huge value.
SHAPES: list[Callable[[Any], Any]] = [
    lambda x: x,
    lambda x: [x],
    lambda x: [[x, {}]],
]


def numeric_shape(check: ht.Check) -> Callable[[Any], Any] | None:
    """The shape in which ``check`` accepts small numbers (not any value
    at all: a free-form list such as a query filter is no number)."""
    for shape in SHAPES:
        if (check(shape(1)) or check(shape(1.0))) and not check(shape("x")):
            return shape
    return None


def opcode_fields() -> Iterator[tuple[str, str, ht.Check]]:
    for op_id, cls in sorted(opcodes.OP_MAPPING.items()):
        for name, spec in cls.fields().items():
            assert spec.check is not None, (op_id, name)
            yield op_id, name, spec.check


def param_tables() -> Iterator[tuple[str, Mapping[str, params.ParamSpec]]]:
    for hv, table in params.HV_PARAMETERS.items():
        yield f"hvparams {hv}", table
    for template, table in params.DISK_PARAMETERS.items():
        yield f"diskparams {template}", table
    yield "beparams", params.BE_PARAMETERS
    yield "nicparams", params.NIC_PARAMETERS


def test_every_numeric_opcode_field_has_an_upper_bound() -> None:
    numeric = []
    unbounded = []
    for op_id, name, check in opcode_fields():
        shape = numeric_shape(check)
        if shape is None:
            continue
        numeric.append((op_id, name))
        unbounded.extend((op_id, name, value) for value in HUGE
                         if check(shape(value)))
    assert len(numeric) > 50  # debug_level alone is in every opcode
    assert unbounded == []


def test_every_numeric_parameter_has_an_upper_bound() -> None:
    numeric = []
    unbounded = []
    for table_name, table in param_tables():
        for name, spec in table.items():
            if numeric_shape(spec.check) is None:
                continue
            numeric.append((table_name, name))
            unbounded.extend((table_name, name, value) for value in HUGE
                             if spec.check(value))
    assert ("beparams", "vcpus") in numeric
    assert unbounded == []


@pytest.mark.parametrize("duration", [1e300, float("inf"), 10**20])
def test_delay_beyond_the_bound_is_refused_at_the_edge(duration: Any) -> None:
    with pytest.raises(errors.OpPrereqError, match="duration"):
        opcodes.OpCode.load({"OP_ID": "OP_TEST_DELAY", "duration": duration})
    op = opcodes.OpCode.load({"OP_ID": "OP_TEST_DELAY",
                              "duration": constants.MAX_DELAY})
    assert op.duration == constants.MAX_DELAY  # type: ignore[attr-defined]


def test_vcpus_of_a_billion_is_refused() -> None:
    with pytest.raises(errors.ParameterError, match="vcpus"):
        params.check_params({"vcpus": 1_000_000_000}, component="backend",
                            spec=params.BE_PARAMETERS)
    assert params.check_params({"vcpus": constants.MAX_VCPUS},
                               component="backend",
                               spec=params.BE_PARAMETERS) == {
        "vcpus": constants.MAX_VCPUS}


def test_disk_of_ten_to_the_twenty_bytes_is_refused_at_the_edge() -> None:
    with pytest.raises(errors.OpPrereqError, match="disks"):
        opcodes.OpCode.load({
            "OP_ID": "OP_INSTANCE_CREATE", "instance_name": "x.example.com",
            "mode": "create", "disk_template": "plain", "os_type": "debian",
            "disks": [{"size": 10**20 // (1 << 20)}], "nics": []})
