"""The error tree: total code maps, wire round trip, messages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ganeti import errors
from ganeti.errors import ErrorCode


def all_error_classes() -> list[type[errors.GenericError]]:
    found = []
    pending: list[type[errors.GenericError]] = [errors.GenericError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_exit_code_map_is_total() -> None:
    assert set(errors.EXIT_CODES) == set(ErrorCode)
    assert all(isinstance(v, int) and 0 < v < 128
               for v in errors.EXIT_CODES.values())


def test_http_status_map_is_total() -> None:
    assert set(errors.HTTP_STATUS) == set(ErrorCode)
    assert all(400 <= v < 600 for v in errors.HTTP_STATUS.values())


def test_ganeti_ecode_strings() -> None:
    # These strings appear in job results read by existing clients.
    assert ErrorCode.INVAL == "wrong_input"
    assert ErrorCode.STATE == "wrong_state"
    assert ErrorCode.NOENT == "unknown_entity"
    assert ErrorCode.EXISTS == "already_exists"
    assert ErrorCode.NORES == "insufficient_resources"


@pytest.mark.parametrize("cls", all_error_classes())
def test_every_class_has_valid_default_code(cls: type[errors.GenericError]) -> None:
    err = cls("boom")
    assert err.code in errors.EXIT_CODES
    assert err.message == "boom"
    assert str(err) == "boom"


@pytest.mark.parametrize("cls", all_error_classes())
def test_wire_round_trip_every_class(cls: type[errors.GenericError]) -> None:
    err = cls("it failed", ErrorCode.STATE)
    back = errors.decode(errors.encode(err))
    assert type(back) is cls
    assert back.message == "it failed"
    assert back.code == ErrorCode.STATE


def test_blame_split() -> None:
    assert issubclass(errors.ParameterError, errors.OpPrereqError)
    assert issubclass(errors.HooksAbort, errors.OpExecError)
    assert issubclass(errors.NodeUnreachableError, errors.RpcError)
    assert not issubclass(errors.ProgrammerError, errors.OpPrereqError)


def test_exit_codes_for_special_errors() -> None:
    assert errors.NotClusterError("x").exit_code == errors.EXIT_NOTCLUSTER
    assert errors.NotMasterError("x").exit_code == errors.EXIT_NOTMASTER
    assert errors.ConfirmationRequired("x").exit_code == errors.EXIT_CONFIRMATION
    assert errors.OpPrereqError("x").exit_code == errors.EXIT_FAILURE


def test_http_status_for_common_errors() -> None:
    assert errors.OpPrereqError("x", ErrorCode.NOENT).http_status == 404
    assert errors.OpPrereqError("x").http_status == 400
    assert errors.AuthenticationError("x").http_status == 401
    assert errors.ForbiddenError("x").http_status == 403


def test_unknown_code_string_becomes_fault() -> None:
    assert errors.OpExecError("x", "no-such-code").code == ErrorCode.FAULT


def test_foreign_exception_encodes_as_programmer_error() -> None:
    back = errors.decode(errors.encode(KeyError("k")))
    assert isinstance(back, errors.ProgrammerError)
    assert "KeyError" in back.message


def test_maybe_raise() -> None:
    with pytest.raises(errors.OpPrereqError, match="bad"):
        errors.maybe_raise(errors.encode(errors.OpPrereqError("bad")))


def test_unknown_class_name_decodes_to_generic() -> None:
    back = errors.decode(["SomeFutureError", ["msg", "wrong_state"]])
    assert type(back) is errors.GenericError
    assert back.code == ErrorCode.STATE


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8)


@given(json_values)
def test_decode_never_raises(data: object) -> None:
    assert isinstance(errors.decode(data), errors.GenericError)
