"""Property tests: whatever arrives, loading an opcode either works (and
then round-trips) or raises OpPrereqError -- never another exception."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opcode_samples import FULL, MINIMAL

from ganeti import errors
from ganeti.opcodes import OP_MAPPING, OpCode

ALL = sorted(OP_MAPPING.values(), key=lambda c: c.OP_ID)

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

_scalars = (st.none() | st.booleans() | st.integers(-2**40, 2**40)
            | st.floats(allow_nan=False, allow_infinity=False)
            | st.text(max_size=12)
            | st.sampled_from(["", "node1", "inst1.example.com", "rw", "add",
                               "remove", "auto", "plain", "drbd", "kvm",
                               "lvm-vg", "node", "instance", "cluster",
                               "192.0.2.1", "/etc/x", "soft", "local"]))
#: Any JSON document (no NaN: it is not JSON and breaks equality).
json_values = st.recursive(
    _scalars,
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def _samples(cls: type[OpCode]) -> list[dict[str, Any]]:
    """Valid bodies of ``cls`` (without OP_ID) from the shared samples."""
    return [MINIMAL[cls], *(data for other, data in FULL if other is cls)]


_ABSENT = object()


@st.composite
def opcode_bodies(draw: st.DrawFn, cls: type[OpCode]) -> Any:
    """A body for ``cls``: a valid sample with a few fields left out or
    replaced by arbitrary JSON; sometimes extra keys, a wrong or missing
    OP_ID, or not a dictionary at all."""
    if draw(st.integers(0, 19)) == 0:
        return draw(json_values)
    data = dict(draw(st.sampled_from(_samples(cls))))
    wild = draw(st.lists(st.sampled_from(sorted(cls.fields())), max_size=3,
                         unique=True))
    for name in wild:
        value = draw(st.sampled_from([_ABSENT]) | json_values)
        if value is _ABSENT:
            data.pop(name, None)
        else:
            data[name] = value
    if draw(st.integers(0, 9)) == 0:
        data.update(draw(st.dictionaries(st.text(max_size=6), json_values,
                                         max_size=2)))
    op_id_choice = draw(st.integers(0, 19))
    if op_id_choice < 16:
        data["OP_ID"] = cls.OP_ID
    elif op_id_choice == 17:
        data["OP_ID"] = draw(st.sampled_from(sorted(OP_MAPPING)))
    elif op_id_choice > 17:
        data["OP_ID"] = draw(json_values)
    return data


def _check_loaded(op: OpCode) -> None:
    data = op.to_dict()
    again = OpCode.load(json.loads(json.dumps(data)))
    assert again == op
    assert again.to_dict() == data
    again.validate_all()
    assert again == op
    assert isinstance(op.summary(), str)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@SETTINGS
@given(data=st.data())
def test_load_succeeds_or_raises_prereq_error(cls: type[OpCode],
                                              data: st.DataObject) -> None:
    body = data.draw(opcode_bodies(cls))
    try:
        op = OpCode.load(body)
    except errors.OpPrereqError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert isinstance(op, OP_MAPPING[body["OP_ID"]])
    _check_loaded(op)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@SETTINGS
@given(data=st.data())
def test_validate_all_succeeds_or_raises_prereq_error(
        cls: type[OpCode], data: st.DataObject) -> None:
    op = cls.from_dict(MINIMAL[cls])
    names = data.draw(st.lists(st.sampled_from(sorted(cls.fields())),
                               max_size=3, unique=True))
    for name in names:
        setattr(op, name, data.draw(json_values))
    try:
        op.validate_all()
    except errors.OpPrereqError:
        return
    _check_loaded(op)


@SETTINGS
@given(body=json_values)
def test_arbitrary_json_never_escapes(body: Any) -> None:
    try:
        op = OpCode.load(body)
    except errors.OpPrereqError:
        return
    _check_loaded(op)
