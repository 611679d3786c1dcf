"""OS definitions: discovery, validation, API versions, variants."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_osdef_support import EXAMPLE_OS_DIR, make_os, os_log_root

from ganeti import errors, pathutils
from ganeti.osdef import (
    InvalidOS,
    OsDefinition,
    find_os,
    list_os,
    load_os,
    required_scripts,
    resolve_variant,
)


def _reason(path: Path, name: str = "testos") -> str:
    with pytest.raises(InvalidOS) as info:
        load_os(name, str(path))
    assert "\n" not in info.value.message
    reason = info.value.details["reason"]
    assert isinstance(reason, str)
    assert reason in info.value.message
    return reason


# --- Discovery ---------------------------------------------------------------

def test_find_os_first_entry_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    make_os(first, versions="10\n")
    make_os(second, versions="20\n")
    osdef = find_os("testos", [str(first), str(second)])
    assert osdef.path == str(first / "testos")
    assert osdef.api_version == 10
    assert find_os("testos", [str(second), str(first)]).api_version == 20


def test_find_os_skips_entries_without_the_name(tmp_path: Path) -> None:
    make_os(tmp_path / "b")
    osdef = find_os("testos", [str(tmp_path / "missing"), str(tmp_path / "a"),
                               str(tmp_path / "b")])
    assert osdef.path == str(tmp_path / "b" / "testos")


def test_find_os_invalid_first_is_not_skipped(tmp_path: Path) -> None:
    make_os(tmp_path / "a", omit=["create"])
    make_os(tmp_path / "b")
    with pytest.raises(InvalidOS, match="create script missing"):
        find_os("testos", [str(tmp_path / "a"), str(tmp_path / "b")])


def test_find_os_strips_variant(tmp_path: Path) -> None:
    make_os(tmp_path / "os", variants="v1\n")
    assert find_os("testos+v1", [str(tmp_path / "os")]).name == "testos"


def test_find_os_not_found(tmp_path: Path) -> None:
    with pytest.raises(InvalidOS, match="not found in the OS search path") \
            as info:
        find_os("nope", [str(tmp_path)])
    assert info.value.code == errors.ErrorCode.NOENT


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "+v"])
def test_find_os_bad_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(errors.OpPrereqError, match="Invalid OS name"):
        find_os(name, [str(tmp_path)])


def test_find_os_refuses_string_search_path(tmp_path: Path) -> None:
    with pytest.raises(errors.ProgrammerError):
        find_os("testos", str(tmp_path))


@pytest.fixture
def rooted(tmp_path: Path) -> Iterator[pathutils.Paths]:
    with os_log_root(tmp_path) as paths:
        yield paths


def test_default_search_path_is_relocated(rooted: pathutils.Paths) -> None:
    entry = Path(rooted.os_search_path[0])
    make_os(entry)
    assert find_os("testos").path == str(entry / "testos")
    assert [d.name for d in list_os()] == ["testos"]


def test_list_os_reports_every_directory(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    make_os(a, "good")
    make_os(a, "broken", versions="x\n")
    make_os(b, "good", versions="15\n")
    (b / "a-file").write_text("not an OS")
    found = list_os([str(a), str(b), str(tmp_path / "missing")])
    assert [(d.name, d.path, d.valid, d.shadowed) for d in found] == [
        ("broken", str(a / "broken"), False, False),
        ("good", str(a / "good"), True, False),
        ("good", str(b / "good"), True, True),
    ]
    assert found[0].error == "ganeti_api_version: line 1 is not a number"
    assert found[0].to_dict()["valid"] is False
    assert found[2].to_dict()["api_versions"] == [15]


def test_list_os_ships_the_example() -> None:
    found = list_os([str(EXAMPLE_OS_DIR)])
    assert [(d.name, d.valid) for d in found] == [("busybox", True),
                                                  ("debootstrap", True),
                                                  ("ganeti-demo-os", True)]
    osdef = found[2].definition
    assert osdef is not None
    assert osdef.api_versions == (20, 15, 10)
    assert osdef.variants == ("minimal", "full")
    assert list(osdef.parameters) == ["hostname_prefix", "fill_size"]


# --- Malformed definitions ---------------------------------------------------

@pytest.mark.parametrize(("versions", "reason"), [
    (None, "ganeti_api_version missing"),
    ("", "ganeti_api_version: no version listed"),
    ("\n  \n", "ganeti_api_version: no version listed"),
    ("20\nfifteen\n", "ganeti_api_version: line 2 is not a number"),
    ("\n\n-5\n", "ganeti_api_version: line 3 is not a number"),
    ("5\n30\n", "ganeti_api_version: no supported version "
                "(lists 30, 5; supported: 10, 15, 20)"),
])
def test_bad_api_version_file(tmp_path: Path, versions: str | None,
                              reason: str) -> None:
    assert _reason(make_os(tmp_path / "os", versions=versions)) == reason


def test_api_version_file_not_utf8(tmp_path: Path) -> None:
    os_dir = make_os(tmp_path / "os")
    (os_dir / "ganeti_api_version").write_bytes(b"\xff\n")
    assert _reason(os_dir) == "ganeti_api_version: not valid UTF-8 text (byte 0)"


def test_api_version_file_is_a_directory(tmp_path: Path) -> None:
    os_dir = make_os(tmp_path / "os", versions=None)
    (os_dir / "ganeti_api_version").mkdir()
    assert _reason(os_dir) == "ganeti_api_version is not a regular file"


@pytest.mark.parametrize("script", ["create", "import", "export", "rename"])
def test_missing_script(tmp_path: Path, script: str) -> None:
    os_dir = make_os(tmp_path / "os", versions="10\n", omit=[script])
    assert _reason(os_dir) == f"{script} script missing"


def test_script_not_executable(tmp_path: Path) -> None:
    os_dir = make_os(tmp_path / "os", versions="10\n")
    os.chmod(os_dir / "create", 0o644)
    assert _reason(os_dir) == "create script not executable"


def test_script_not_a_regular_file(tmp_path: Path) -> None:
    os_dir = make_os(tmp_path / "os", versions="10\n", omit=["export"])
    (os_dir / "export").mkdir()
    assert _reason(os_dir) == "export script not a regular file"


def test_verify_required_only_for_api_20(tmp_path: Path) -> None:
    os_dir = make_os(tmp_path / "a", parameters="", omit=["verify"])
    assert _reason(os_dir) == "verify script missing"
    osdef = load_os("testos", str(make_os(tmp_path / "b", versions="15\n10\n",
                                          omit=["verify"])))
    assert osdef.api_version == 15
    assert "verify" not in osdef.scripts
    with pytest.raises(InvalidOS, match="has no verify script"):
        osdef.script_path("verify")


def test_parameters_list_required_for_api_20(tmp_path: Path) -> None:
    os_dir = make_os(tmp_path / "os", parameters=None)
    assert _reason(os_dir) == "parameters.list missing"


def test_bad_variant_line(tmp_path: Path) -> None:
    os_dir = make_os(tmp_path / "os", versions="15\n", variants="ok\n\nbad name\n")
    assert _reason(os_dir) == ("variants.list: line 3: 'bad name' is not a "
                               "valid variant name")


def test_bad_parameter_line(tmp_path: Path) -> None:
    os_dir = make_os(tmp_path / "os", parameters="good A parameter\nbad!name x\n")
    assert _reason(os_dir) == ("parameters.list: line 2: 'bad!name' is not a "
                               "valid parameter name")


def test_required_scripts() -> None:
    assert "verify" not in required_scripts(15)
    assert required_scripts(20)[-1] == "verify"


# --- API versions ------------------------------------------------------------

@pytest.mark.parametrize(("versions", "listed", "chosen"), [
    ("10\n", (10,), 10),
    ("15\n10\n", (15, 10), 15),
    ("10\n15\n", (15, 10), 15),
    ("20\n15\n10\n", (20, 15, 10), 20),
    ("30\n15\n", (30, 15), 15),
    (" 20 \n\n10\n20\n", (20, 10), 20),
])
def test_api_version_choice(tmp_path: Path, versions: str,
                            listed: tuple[int, ...], chosen: int) -> None:
    osdef = load_os("testos", str(make_os(tmp_path / "os", versions=versions,
                                          parameters="")))
    assert osdef.api_versions == listed
    assert osdef.api_version == chosen


def test_files_of_higher_apis_are_ignored(tmp_path: Path) -> None:
    os_dir = make_os(tmp_path / "os", versions="10\n", variants="bad variant!\n",
                     parameters="bad!\n")
    osdef = load_os("testos", str(os_dir))
    assert osdef.variants == ()
    assert osdef.parameters == {}
    assert not osdef.supports_parameters


def test_variants_and_parameters_parsed(tmp_path: Path) -> None:
    os_dir = make_os(tmp_path / "os", variants="\nsid\n  lenny-min \nsid\n",
                     parameters="dhcp Use DHCP\n\nswap-size\tSwap  size\n"
                                "dhcp again\n")
    osdef = load_os("testos", str(os_dir))
    assert osdef.variants == ("sid", "lenny-min")
    assert osdef.default_variant == "sid"
    assert osdef.parameters == {"dhcp": "Use DHCP", "swap-size": "Swap  size"}
    assert osdef.to_dict()["parameters"] == [["dhcp", "Use DHCP"],
                                             ["swap-size", "Swap  size"]]


def test_missing_or_empty_variants_list(tmp_path: Path) -> None:
    no_file = load_os("testos", str(make_os(tmp_path / "a", versions="15\n")))
    empty = load_os("testos", str(make_os(tmp_path / "b", versions="15\n",
                                          variants="\n")))
    for osdef in (no_file, empty):
        assert osdef.variants == ()
        assert osdef.default_variant is None


# --- Variants ----------------------------------------------------------------

def _osdef(variants: tuple[str, ...]) -> OsDefinition:
    return OsDefinition(name="deb", path="/x/deb", api_versions=(15,),
                        api_version=15, scripts={}, variants=variants)


def test_variant_default_is_first() -> None:
    assert resolve_variant(_osdef(("sid", "lenny")), "deb") == "sid"
    assert resolve_variant(_osdef(("sid", "lenny")), "deb+") == "sid"


def test_variant_listed() -> None:
    assert resolve_variant(_osdef(("sid", "lenny")), "deb+lenny") == "lenny"


def test_variant_unknown_refused_unless_forced() -> None:
    osdef = _osdef(("sid", "lenny"))
    with pytest.raises(errors.ParameterError,
                       match="Unsupported variant 'etch' of OS 'deb' "
                             r"\(supported: sid, lenny\); use --force-variant"):
        resolve_variant(osdef, "deb+etch")
    assert resolve_variant(osdef, "deb+etch", force_variant=True) == "etch"


def test_variant_on_os_without_variants() -> None:
    osdef = _osdef(())
    assert resolve_variant(osdef, "deb") is None
    for force in (False, True):
        with pytest.raises(errors.ParameterError,
                           match="OS 'deb' does not support variants"):
            resolve_variant(osdef, "deb+sid", force_variant=force)


def test_variant_bad_name_and_other_os() -> None:
    osdef = _osdef(("sid",))
    with pytest.raises(errors.ParameterError, match="Invalid variant name"):
        resolve_variant(osdef, "deb+a b", force_variant=True)
    with pytest.raises(errors.ParameterError, match="does not match"):
        resolve_variant(osdef, "other+sid")
