"""Property tests of the inheritance rule and of parameter validation."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ganeti import constants, errors, params

#: Deterministic runs (a fixed seed per test) and no example database.
BASE = settings(derandomize=True, database=None, deadline=None)

KEYS = st.sampled_from(["a", "b", "c", "d", "e"])
LEVEL = st.dictionaries(KEYS, st.integers(), max_size=5)
MAYBE_LEVEL = st.none() | LEVEL

# Every (component, table) pair, with the entry point that validates it.
HV_TABLES = sorted(params.HV_PARAMETERS.items())
DISK_TABLES = sorted(params.DISK_PARAMETERS.items())
ALL_NAMES = frozenset(
    name for table in [*params.HV_PARAMETERS.values(),
                       *params.DISK_PARAMETERS.values(),
                       params.BE_PARAMETERS, params.NIC_PARAMETERS,
                       params.ND_PARAMETERS]
    for name in table)

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(
        ["true", "no", "512M", "2g", "1.5G", "-1", "0", "paravirtual",
         "disk", "/boot/x", "127.0.0.1", "", "none", "cd", "default"]),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@BASE
@given(MAYBE_LEVEL, MAYBE_LEVEL, MAYBE_LEVEL)
def test_fill_is_associative(a: Any, b: Any, c: Any) -> None:
    assert params.fill(a, b, c) == params.fill(params.fill(a, b), c)
    assert params.fill(a, b, c) == params.fill(a, params.fill(b, c))


@BASE
@given(LEVEL, st.lists(MAYBE_LEVEL, max_size=4))
def test_fill_later_levels_win_and_keys_are_the_union(
        defaults: dict[str, int], overrides: list[Any]) -> None:
    before = [None if o is None else dict(o) for o in overrides]
    result = params.fill(defaults, *overrides)
    levels = [defaults, *(o for o in overrides if o)]
    assert set(result) == set().union(*levels)
    for key, value in result.items():
        last = [lvl[key] for lvl in levels if key in lvl][-1]
        assert value == last
    assert overrides == before  # inputs untouched


def _spec_for(component: str) -> tuple[params.Component, Any]:
    kind, _, owner = component.partition(":")
    if kind == "hv":
        return params.hv_component(owner), params.HV_PARAMETERS[owner]
    if kind == "disk":
        return params.disk_component(owner), params.DISK_PARAMETERS[owner]
    if kind == "be":
        return params.BE_COMPONENT, params.BE_PARAMETERS
    if kind == "nd":
        return params.ND_COMPONENT, params.ND_PARAMETERS
    return params.NIC_COMPONENT, params.NIC_PARAMETERS


COMPONENTS = st.sampled_from(
    [f"hv:{hv}" for hv, _ in HV_TABLES]
    + [f"disk:{dt}" for dt, _ in DISK_TABLES] + ["be", "nic", "nd"])


@st.composite
def changes_for(draw: st.DrawFn, component: str) -> dict[str, Any]:
    _, spec = _spec_for(component)
    names = sorted(spec)
    if not names:
        return {}
    chosen = draw(st.lists(st.sampled_from(names), max_size=4, unique=True))
    result: dict[str, Any] = {}
    for name in chosen:
        decl = spec[name]
        result[name] = draw(st.sampled_from([constants.VALUE_DEFAULT,
                                             decl.default]))
    return result


@settings(BASE, max_examples=200)
@given(st.data())
def test_update_then_fill_never_has_a_removed_override(data: Any) -> None:
    component = data.draw(COMPONENTS)
    comp, spec = _spec_for(component)
    current = data.draw(changes_for(component))
    current = {k: v for k, v in current.items() if v != constants.VALUE_DEFAULT}
    changes = data.draw(changes_for(component))
    updated = params.update_params(current, changes, component=comp, spec=spec)
    for name, value in changes.items():
        if value == constants.VALUE_DEFAULT:
            assert name not in updated
    # The marker word itself never lands in a stored level.
    assert constants.VALUE_DEFAULT not in [
        v for k, v in updated.items() if k in changes
        and changes[k] == constants.VALUE_DEFAULT]
    filled = params.fill(params.defaults_of(spec), updated)
    assert set(filled) == set(spec)
    for name, value in changes.items():
        if value == constants.VALUE_DEFAULT:
            assert filled[name] == spec[name].default


JUNK_NAMES = st.one_of(
    st.text(max_size=30).filter(lambda s: s not in ALL_NAMES),
    st.integers(), st.none(), st.booleans(), st.tuples(st.integers()))


@settings(BASE, max_examples=300)
@given(COMPONENTS, JUNK_NAMES, VALUES)
def test_junk_names_are_always_parameter_errors(component: str, name: Any,
                                                value: Any) -> None:
    comp, spec = _spec_for(component)
    for update in (False, True):
        try:
            if update:
                params.update_params({}, {name: value}, component=comp,
                                     spec=spec)
            else:
                params.check_params({name: value}, component=comp, spec=spec)
        except errors.ParameterError as err:
            assert "Unknown" in err.message
            assert str(comp).split()[0] in err.details["component"]
            assert "\n" not in err.message
        else:
            raise AssertionError(f"{name!r} accepted by {comp}")


@settings(BASE, max_examples=300)
@given(st.data(), VALUES)
def test_random_values_pass_or_raise_parameter_error(data: Any,
                                                     value: Any) -> None:
    component = data.draw(COMPONENTS)
    comp, spec = _spec_for(component)
    if not spec:
        return
    name = data.draw(st.sampled_from(sorted(spec)))
    decl = spec[name]
    try:
        converted = params.convert_value(decl, value, comp)
    except errors.ParameterError as err:
        assert f"parameter {name!r}" in err.message
        assert "\n" not in err.message
        return
    assert decl.check(converted)
    # Converting again is stable: stored values are already typed.
    assert params.convert_value(decl, converted, comp) == converted


@BASE
@given(st.sampled_from([hv for hv, _ in HV_TABLES]),
       st.sampled_from(["os", "instance"]), st.data())
def test_globals_never_pass_below_cluster(hv: str, level: Any,
                                          data: Any) -> None:
    spec = params.HV_PARAMETERS[hv]
    globals_here = sorted(params.HVC_GLOBALS & set(spec))
    if not globals_here:
        return
    name = data.draw(st.sampled_from(globals_here))
    try:
        params.check_hv_params(hv, {name: spec[name].default}, level=level)
    except errors.ParameterError as err:
        assert "global" in err.message
    else:
        raise AssertionError("global parameter accepted")


@BASE
@given(st.dictionaries(st.text(max_size=10), VALUES, max_size=4),
       st.lists(st.text(max_size=10), max_size=4))
def test_os_params_pass_or_raise_parameter_error(values: dict[str, Any],
                                                 declared: list[str]) -> None:
    try:
        result = params.check_os_params(values, declared, os_name="debian")
    except errors.ParameterError as err:
        assert "\n" not in err.message
        return
    assert result == values
    assert all(name in declared for name in values)
    assert all(params.OS_VALUE_CHECK(v) for v in values.values())


@BASE
@given(st.sampled_from([hv for hv, _ in HV_TABLES]),
       st.dictionaries(st.text(max_size=8), VALUES, max_size=4))
def test_find_problems_agrees_with_check(hv: str, values: dict[str, Any]) -> None:
    comp = params.hv_component(hv)
    spec = params.HV_PARAMETERS[hv]
    problems = params.find_problems(values, component=comp, spec=spec)
    try:
        params.check_params(values, component=comp, spec=spec)
    except errors.ParameterError as err:
        assert err.message in problems
    else:
        assert problems == []


# --- Ganeti 2.6 memory: memory is maxmem and minmem together ----------------

SIZES = st.one_of(st.integers(min_value=1, max_value=constants.MAX_MEMORY_MIB),
                  st.sampled_from(["512", "512M", "2g", "1.5G", "1T"]))
BE_LEVEL = st.fixed_dictionaries({}, optional={
    "maxmem": st.integers(min_value=1, max_value=4096),
    "minmem": st.integers(min_value=1, max_value=4096),
    "vcpus": st.integers(min_value=1, max_value=8)})


@BASE
@given(SIZES, BE_LEVEL)
def test_memory_is_maxmem_and_minmem(size: Any, current: dict[str, Any]) -> None:
    both = {"maxmem": size, "minmem": size}
    assert params.check_be_params({"memory": size}) == \
        params.check_be_params(both)
    if current.get("minmem", 0) > current.get("maxmem", 1 << 41):
        return
    assert params.update_be_params(current, {"memory": size}) == \
        params.update_be_params(current, both)
    assert params.update_be_params(current, {"memory": "default"}) == \
        params.update_be_params(current, {"maxmem": "default",
                                          "minmem": "default"})


@BASE
@given(st.integers(min_value=1, max_value=1 << 20),
       st.integers(min_value=1, max_value=1 << 20))
def test_minmem_above_maxmem_is_the_only_refusal(maxmem: int,
                                                 minmem: int) -> None:
    try:
        result = params.check_be_params({"maxmem": maxmem, "minmem": minmem})
    except errors.ParameterError as err:
        assert minmem > maxmem
        assert "minmem" in err.message and "\n" not in err.message
    else:
        assert minmem <= maxmem
        assert result == {"maxmem": maxmem, "minmem": minmem}


@BASE
@given(st.dictionaries(st.sampled_from(["memory", "maxmem", "minmem",
                                        "vcpus"]), VALUES, max_size=4))
def test_backend_parameters_pass_or_raise_parameter_error(
        values: dict[str, Any]) -> None:
    try:
        result = params.check_be_params(values)
    except errors.ParameterError as err:
        assert "\n" not in err.message
        return
    assert "memory" not in result
    params.check_be_memory(result)
