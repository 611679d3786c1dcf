"""Config document versions and upgrades, against golden files.

Golden files live in ``test/data/config``:

- ``config-2.0-<name>.json``, ``config-2.1-<name>.json``,
  ``config-2.4-<name>.json``: documents of Ganeti 2.0 (hand-written) and
  of this project's 2.1 and 2.4 formats;
- ``config-<version>-<name>.upgraded.json``: what
  :func:`cfgupgrade.upgrade` must make of them, with UUIDs from
  ``sequential_uuids("golden:<name>")`` (``<version>-<name>`` after 2.0);
- ``config-2.6-current.json``: a document of the current format.

To regenerate the expected files after a deliberate change of an upgrade
step, run ``tools/regen-golden-config`` (it sets ``GANETI_REGEN_GOLDEN=1``
and runs the golden tests here, which then write instead of compare); then
review the diff before committing it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganeti import cfgupgrade, constants, errors, objects

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = REPO / "test" / "data" / "config"
TOOL = REPO / "tools" / "cfgupgrade"
CURRENT_FILE = DATA / "config-2.6-current.json"
REGEN = os.environ.get("GANETI_REGEN_GOLDEN") == "1"

V2_0 = constants.build_version(2, 0, 0)
V2_1 = constants.build_version(2, 1, 0)
V2_4 = constants.build_version(2, 4, 0)
V2_6 = constants.build_version(2, 6, 0)

INPUTS = sorted(p for p in DATA.glob("config-2.[014]-*.json")
                if not p.name.endswith(".upgraded.json"))
NAMES = [p.name[len("config-"):-len(".json")] for p in INPUTS]


def load(path: pathlib.Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def golden_input(name: str) -> dict[str, Any]:
    return load(DATA / f"config-{name}.json")  # type: ignore[no-any-return]


def expected_path(name: str) -> pathlib.Path:
    return DATA / f"config-{name}.upgraded.json"


def golden_upgrade(name: str) -> dict[str, Any]:
    return cfgupgrade.upgrade(
        golden_input(name),
        new_uuid=cfgupgrade.sequential_uuids(f"golden:{golden_seed(name)}"))


def golden_seed(name: str) -> str:
    """The UUID seed of a golden file (2.0 files keep their first seeds)."""
    return name.removeprefix("2.0-")


def no_uuid() -> str:
    raise AssertionError("no UUID should be generated")


def test_there_are_golden_documents() -> None:
    assert len(NAMES) >= 2


# --- golden files -------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_golden_upgrade(name: str) -> None:
    result = golden_upgrade(name)
    if REGEN:
        expected_path(name).write_text(
            json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert result == load(expected_path(name))


@pytest.mark.parametrize("name", NAMES)
def test_golden_upgraded_loads_completely(name: str) -> None:
    expected = load(expected_path(name))
    assert expected["version"] == constants.CONFIG_VERSION
    config = objects.ConfigData.from_dict(expected)
    # The upgrade writes every field: nothing is left to (time- or
    # random-dependent) defaults of objects.py.
    assert config.to_dict() == expected


@pytest.mark.parametrize("name", NAMES)
def test_upgrade_is_idempotent(name: str) -> None:
    once = golden_upgrade(name)
    assert cfgupgrade.upgrade(once, new_uuid=no_uuid) == once
    assert cfgupgrade.check_version(once) is False
    assert cfgupgrade.check_version(golden_input(name)) is True


@pytest.mark.parametrize("name", NAMES)
def test_upgrade_does_not_mutate_input(name: str) -> None:
    data = golden_input(name)
    before = copy.deepcopy(data)
    result = cfgupgrade.upgrade(data, new_uuid=cfgupgrade.sequential_uuids("x"))
    assert data == before
    # Nothing is shared between the input and the result either.
    result["cluster"]["tags"].append("changed")
    result["instances"][sorted(result["instances"])[0]]["hvparams"]["x"] = 1
    assert data == before


def test_2_1_to_2_4_puts_every_node_in_the_default_group() -> None:
    doc = upgraded_minimal()
    (group,) = doc["nodegroups"].values()
    assert group["name"] == "default"
    assert group["uuid"] == cfgupgrade.default_group_uuid(
        doc["cluster"]["uuid"])
    assert {n["group"] for n in doc["nodes"].values()} == {group["uuid"]}
    assert doc["cluster"]["ipolicy"]["vcpu-ratio"] == 4.0
    objects.ConfigData.from_dict(doc)


def test_current_format_golden_round_trips() -> None:
    data = load(CURRENT_FILE)
    assert data["version"] == constants.CONFIG_VERSION, (
        "CONFIG_VERSION changed: add an upgrade step to cfgupgrade and a "
        "golden document of the new format")
    try:
        encoded = objects.ConfigData.from_dict(data).to_dict()
    except errors.ConfigurationError as err:
        pytest.fail(f"objects.py no longer reads the {constants.CONFIG_VERSION}"
                    f" format ({err}): bump CONFIG_VERSION and add an upgrade "
                    "step in cfgupgrade instead of changing the format silently")
    assert encoded == data, (
        "objects.py writes a different document than the current format: "
        "bump CONFIG_VERSION and add an upgrade step in cfgupgrade")


def test_current_document_is_left_alone() -> None:
    data = load(CURRENT_FILE)
    assert cfgupgrade.check_version(data) is False
    result = cfgupgrade.upgrade(data, new_uuid=no_uuid)
    assert result == data
    assert result is not data


# --- what the 2.0 -> 2.1 step does ---------------------------------------------


def minimal_2_0() -> dict[str, Any]:
    return {
        "version": V2_0,
        "serial_no": 3,
        "cluster": {
            "cluster_name": "c.example.com", "master_node": "n1.example.com",
            "master_ip": "192.0.2.1", "default_bridge": "br7",
            "default_hypervisor": "kvm",
            "enabled_hypervisors": ["xen-pvm", "kvm"],
            "hvparams": {"kvm": {"migration_port": 8102}},
        },
        "nodes": {
            "n1.example.com": {"name": "n1.example.com",
                               "primary_ip": "192.0.2.11",
                               "secondary_ip": "192.0.2.11"},
        },
        "instances": {
            "i1.example.com": {
                "name": "i1.example.com", "primary_node": "n1.example.com",
                "hypervisor": "kvm", "disk_template": "plain",
                "hvparams": {"migration_port": 1, "migration_bandwidth": 2,
                             "acpi": False},
                "nics": [{"mac": "aa:00:00:00:00:01", "bridge": "br9"},
                         {"mac": "aa:00:00:00:00:02"}],
                "disks": [{"dev_type": "lvm", "size": 10,
                           "logical_id": ["vg", "lv"]}],
            },
        },
    }


def upgraded_minimal(**changes: Any) -> dict[str, Any]:
    data = minimal_2_0()
    data.update(changes)
    return cfgupgrade.upgrade(data, new_uuid=cfgupgrade.sequential_uuids("m"))


def test_bridges_become_nic_parameters() -> None:
    doc = upgraded_minimal()
    cluster = doc["cluster"]
    assert "default_bridge" not in cluster
    assert cluster["nicparams"] == {
        "default": {"mode": "bridged", "link": "br7"}}
    nics = doc["instances"]["i1.example.com"]["nics"]
    assert all("bridge" not in nic for nic in nics)
    assert nics[0]["nicparams"] == {"mode": "bridged", "link": "br9"}
    assert nics[1]["nicparams"] == {}


def test_default_hypervisor_becomes_first_enabled() -> None:
    doc = upgraded_minimal()
    assert "default_hypervisor" not in doc["cluster"]
    assert doc["cluster"]["enabled_hypervisors"] == ["kvm", "xen-pvm"]
    data = minimal_2_0()
    data["cluster"]["default_hypervisor"] = "fake"
    doc = cfgupgrade.upgrade(data)
    assert doc["cluster"]["enabled_hypervisors"] == ["fake", "xen-pvm", "kvm"]


def test_global_hvparams_leave_instances_only() -> None:
    doc = upgraded_minimal()
    assert doc["instances"]["i1.example.com"]["hvparams"] == {"acpi": False}
    assert doc["cluster"]["hvparams"] == {"kvm": {"migration_port": 8102}}


def test_every_object_gets_a_distinct_uuid() -> None:
    doc = upgraded_minimal()
    inst = doc["instances"]["i1.example.com"]
    uuids = [doc["cluster"]["uuid"], doc["nodes"]["n1.example.com"]["uuid"],
             inst["uuid"], *(n["uuid"] for n in inst["nics"]),
             *(d["uuid"] for d in inst["disks"])]
    assert len(set(uuids)) == len(uuids) == 6
    # The documented order: cluster, nodes, instance, its NICs, its disks.
    gen = cfgupgrade.sequential_uuids("m")
    assert uuids == [gen() for _ in range(6)]


def test_existing_uuids_are_kept() -> None:
    data = minimal_2_0()
    data["cluster"]["uuid"] = "keep-me"
    doc = cfgupgrade.upgrade(data, new_uuid=cfgupgrade.sequential_uuids("k"))
    assert doc["cluster"]["uuid"] == "keep-me"


def test_new_cluster_fields_get_their_2_1_defaults() -> None:
    cluster = upgraded_minimal()["cluster"]
    assert cluster["uid_pool"] == []
    assert cluster["maintain_node_health"] is False
    assert cluster["modify_etc_hosts"] is True
    assert cluster["os_hvp"] == {}
    assert cluster["tags"] == []
    for key in ("diskparams", "osparams"):
        assert cluster[key] == {}
    for key in ("hidden_os", "blacklisted_os", "redist_files"):
        assert cluster[key] == []
    assert cluster["ctime"] == cluster["mtime"] == cfgupgrade.UNKNOWN_TIMESTAMP
    objects.ConfigData.from_dict(upgraded_minimal())


def test_missing_default_bridge_uses_the_2_0_default() -> None:
    data = minimal_2_0()
    del data["cluster"]["default_bridge"]
    doc = cfgupgrade.upgrade(data)
    assert doc["cluster"]["nicparams"]["default"]["link"] == \
        constants.DEFAULT_BRIDGE


def test_unknown_keys_are_kept_for_the_loader_to_report() -> None:
    data = minimal_2_0()
    data["cluster"]["mystery_setting"] = 42
    data["instances"]["i1.example.com"]["nics"][0]["vlan"] = 5
    doc = cfgupgrade.upgrade(data)
    assert doc["cluster"]["mystery_setting"] == 42
    assert doc["instances"]["i1.example.com"]["nics"][0]["vlan"] == 5
    with pytest.raises(errors.ConfigurationError, match="mystery_setting"):
        objects.ConfigData.from_dict(doc)


# --- versions and malformed documents ------------------------------------------


@pytest.mark.parametrize("data, fragment", [
    ([1, 2], "list"),
    ("config", "str"),
    (None, "NoneType"),
    ({}, "no 'version'"),
    ({"version": "2010000"}, "'2010000'"),
    ({"version": True}, "True"),
    ({"version": -1}, "-1"),
    ({"version": 2.1}, "2.1"),
    ({"version": constants.build_version(2, 7, 0)}, "2.7.0 is newer"),
    ({"version": constants.build_version(2, 2, 0)}, "2.2.0 cannot"),
    ({"version": constants.build_version(2, 5, 0)}, "2.5.0 cannot"),
    ({"version": constants.build_version(3, 0, 0)}, "3.0.0 is newer"),
    ({"version": constants.build_version(1, 2, 0)}, "1.2.0 cannot"),
    ({"version": constants.build_version(2, 0, 1)}, "2.0.1 cannot"),
])
def test_unusable_versions(data: Any, fragment: str) -> None:
    for call in (cfgupgrade.upgrade, cfgupgrade.check_version):
        with pytest.raises(errors.ConfigVersionMismatch) as info:
            call(data)
        message = str(info.value)
        assert fragment in message
        assert "2.6.0" in message
        assert "\n" not in message


def test_unknown_old_version_names_what_can_be_upgraded() -> None:
    with pytest.raises(errors.ConfigVersionMismatch, match=r"2\.0\.0"):
        cfgupgrade.upgrade({"version": 1000000})


def _break(path: list[Any], value: Any) -> dict[str, Any]:
    data = minimal_2_0()
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


I1 = ["instances", "i1.example.com"]


@pytest.mark.parametrize("path, value", [
    (["cluster"], KeyError),
    (["cluster"], []),
    (["cluster"], "c"),
    (["nodes"], []),
    (["instances"], "x"),
    (["nodes", "n1.example.com"], None),
    ([*I1], [1]),
    ([*I1, "nics"], {}),
    ([*I1, "nics", 0], "aa:00:00:00:00:01"),
    ([*I1, "nics", 0, "bridge"], 7),
    ([*I1, "nics", 0, "nicparams"], ["x"]),
    ([*I1, "disks"], "sda"),
    ([*I1, "disks", 0], 3),
    ([*I1, "disks", 0, "children"], {"a": 1}),
    ([*I1, "hvparams"], []),
    ([*I1, "beparams"], 5),
    (["cluster", "default_bridge"], ["br0"]),
    (["cluster", "default_hypervisor"], 1),
    (["cluster", "enabled_hypervisors"], "kvm"),
    (["cluster", "nicparams"], "bridged"),
])
def test_malformed_structure(path: list[Any], value: Any) -> None:
    with pytest.raises(errors.ConfigurationError) as info:
        cfgupgrade.upgrade(_break(path, value))
    assert "\n" not in str(info.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=2)
    | st.dictionaries(st.text(max_size=3), inner, max_size=2),
    max_leaves=4)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for idx, item in enumerate(value):
            found.extend(_paths(item, (*prefix, idx)))
    return found


GOLDEN_PATHS = {name: _paths(golden_input(name)) for name in NAMES}


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(NAMES), data=st.data(), value=json_values)
def test_any_corruption_gives_a_configuration_error(
        name: str, data: st.DataObject, value: Any) -> None:
    doc = golden_input(name)
    path = data.draw(st.sampled_from(GOLDEN_PATHS[name]))
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        result = cfgupgrade.upgrade(doc)
    except errors.ConfigurationError as err:
        assert "\n" not in str(err)
        return
    with contextlib.suppress(errors.ConfigurationError):
        objects.ConfigData.from_dict(result)


# --- what the 2.4 -> 2.6 step does ---------------------------------------------


def test_memory_becomes_maxmem_and_minmem() -> None:
    doc = upgraded_minimal()
    assert doc["version"] == V2_6
    data = copy.deepcopy(doc)
    data["version"] = V2_4
    data["cluster"]["beparams"] = {"default": {"memory": 512, "vcpus": 2}}
    inst = data["instances"]["i1.example.com"]
    inst["beparams"] = {"memory": 256, "maxmem": 1024}
    for key in ("ndparams",):
        del data["cluster"][key]
    result = cfgupgrade.upgrade(data, new_uuid=no_uuid)
    assert result["cluster"]["beparams"] == {
        "default": {"maxmem": 512, "minmem": 512, "vcpus": 2}}
    # As in Ganeti, the old key wins over a maxmem written beside it.
    assert result["instances"]["i1.example.com"]["beparams"] == {
        "maxmem": 256, "minmem": 256}
    assert result["cluster"]["ndparams"] == {}
    config = objects.ConfigData.from_dict(result)
    assert config.cluster.filled_beparams(
        config.instances["i1.example.com"])["maxmem"] == 256


def test_2_6_fields_start_unset() -> None:
    doc = upgraded_minimal()
    assert doc["nodes"]["n1.example.com"]["ndparams"] == {}
    inst = doc["instances"]["i1.example.com"]
    assert all(nic["name"] is None for nic in inst["nics"])
    assert all(disk["name"] is None and disk["spindles"] is None
               for disk in inst["disks"])


def test_null_memory_is_a_configuration_error() -> None:
    data = minimal_2_0()
    data["instances"]["i1.example.com"]["beparams"] = {"memory": None}
    with pytest.raises(errors.ConfigurationError, match="memory"):
        cfgupgrade.upgrade(data)


# --- the table -------------------------------------------------------------------


def test_shipped_table_reaches_the_current_version() -> None:
    cfgupgrade.check_table(cfgupgrade.UPGRADE_STEPS)
    assert cfgupgrade.UPGRADE_STEPS[-1].to_version == constants.CONFIG_VERSION
    assert [s.from_version for s in cfgupgrade.UPGRADE_STEPS] == [
        V2_0, V2_1, V2_4]


#: A version after the current one, for tables of a future release.
V2_FUTURE = constants.build_version(2, 7, 0)


def _add_widgets(doc: dict[str, Any], ctx: cfgupgrade.Context) -> dict[str, Any]:
    doc["cluster"]["widgets"] = [ctx.new_uuid()]
    return doc


FUTURE_TABLE = (*cfgupgrade.UPGRADE_STEPS,
                cfgupgrade.UpgradeStep(V2_6, V2_FUTURE, _add_widgets,
                                       "widgets"))


def test_a_future_step_is_one_table_row() -> None:
    cfgupgrade.check_table(FUTURE_TABLE, V2_FUTURE)
    gen = cfgupgrade.sequential_uuids("future")
    doc = cfgupgrade.upgrade(minimal_2_0(), new_uuid=gen, steps=FUTURE_TABLE,
                             target=V2_FUTURE)
    assert doc["version"] == V2_FUTURE
    same = cfgupgrade.sequential_uuids("future")
    # Six UUIDs for the 2.0 -> 2.1 step (2.1 -> 2.4 derives the group's
    # from the cluster's, 2.4 -> 2.6 makes none), then
    # the seventh for the widget.
    assert doc["cluster"]["widgets"] == [same() for _ in range(7)][-1:]
    assert "default_bridge" not in doc["cluster"]  # 2.0 -> 2.1 ran first
    current = load(CURRENT_FILE)
    assert cfgupgrade.check_version(current, steps=FUTURE_TABLE, target=V2_FUTURE)
    doc = cfgupgrade.upgrade(current, new_uuid=lambda: "u", steps=FUTURE_TABLE,
                             target=V2_FUTURE)
    assert doc["cluster"]["widgets"] == ["u"]
    assert cfgupgrade.upgrade(doc, new_uuid=no_uuid, steps=FUTURE_TABLE,
                              target=V2_FUTURE) == doc
    # With the shipped table, such a document is from the future.
    with pytest.raises(errors.ConfigVersionMismatch, match="newer"):
        cfgupgrade.upgrade(doc)


def test_plan_lists_the_steps() -> None:
    assert [s.to_version for s in cfgupgrade.plan(V2_0, FUTURE_TABLE, V2_FUTURE)] \
        == [V2_1, V2_4, V2_6, V2_FUTURE]
    assert cfgupgrade.plan(V2_FUTURE, FUTURE_TABLE, V2_FUTURE) == []


def _noop(doc: dict[str, Any], ctx: cfgupgrade.Context) -> dict[str, Any]:
    return doc


def _not_a_dict(doc: dict[str, Any], ctx: cfgupgrade.Context) -> Any:
    return [doc]


def _crash(doc: dict[str, Any], ctx: cfgupgrade.Context) -> dict[str, Any]:
    return doc["no such key"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("table", [
    (cfgupgrade.UpgradeStep(V2_1, V2_0, _noop, "backwards"),),
    (cfgupgrade.UpgradeStep(V2_0, V2_1, _noop, "a"),
     cfgupgrade.UpgradeStep(V2_0, V2_6, _noop, "b")),
    (cfgupgrade.UpgradeStep(V2_0, V2_1, _noop, "gap to 2.6"),),
])
def test_broken_tables_are_programmer_errors(table: Any) -> None:
    with pytest.raises(errors.ProgrammerError):
        cfgupgrade.check_table(table, V2_6)


def test_step_results_are_checked() -> None:
    table = (cfgupgrade.UpgradeStep(V2_0, V2_1, _not_a_dict, "bad"),)
    with pytest.raises(errors.ConfigurationError, match="upgraded document"):
        cfgupgrade.upgrade({"version": V2_0}, steps=table, target=V2_1)
    table = (cfgupgrade.UpgradeStep(V2_0, V2_1, _crash, "crash"),)
    with pytest.raises(errors.ConfigurationError,
                       match=r"from 2\.0\.0 to 2\.1\.0 failed: KeyError"):
        cfgupgrade.upgrade({"version": V2_0}, steps=table, target=V2_1)


def test_sequential_uuids_are_deterministic_and_valid() -> None:
    first = cfgupgrade.sequential_uuids("seed")
    second = cfgupgrade.sequential_uuids("seed")
    values = [first() for _ in range(5)]
    assert values == [second() for _ in range(5)]
    assert len(set(values)) == 5
    assert cfgupgrade.sequential_uuids("other")() != values[0]
    assert all(len(v) == 36 and v.count("-") == 4 for v in values)


def test_format_version() -> None:
    assert cfgupgrade.format_version(2010000) == "2.1.0"
    assert cfgupgrade.format_version(2000003) == "2.0.3"
    assert cfgupgrade.format_version("x") == "'x'"
    assert cfgupgrade.format_version(True) == "True"


# --- the cfgupgrade command -------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "config.data"
    path.write_bytes((DATA / "config-2.0-xen-kvm.json").read_bytes())
    path.chmod(0o640)
    return path


def run_tool(*args: str, stdin: str = "",
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("PYTHONPATH", "GANETI_ROOTDIR")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(TOOL), *args], input=stdin,
                          capture_output=True, text=True, env=full_env,
                          timeout=60, check=False)


def backups(path: pathlib.Path) -> list[pathlib.Path]:
    return sorted(path.parent.glob(path.name + ".bak-*"))


def test_tool_dry_run_changes_nothing(config_file: pathlib.Path) -> None:
    before = config_file.read_bytes()
    proc = run_tool("--path", str(config_file), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "2.0.0" in proc.stdout and "2.6.0" in proc.stdout
    assert config_file.read_bytes() == before
    assert backups(config_file) == []


def test_tool_upgrades_and_keeps_a_backup(config_file: pathlib.Path) -> None:
    before = config_file.read_bytes()
    proc = run_tool("--path", str(config_file), "--force", "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert "from version 2.0.0 to 2.6.0" in proc.stdout
    data = load(config_file)
    assert data["version"] == constants.CONFIG_VERSION
    objects.ConfigData.from_dict(data)
    (backup,) = backups(config_file)
    assert backup.read_bytes() == before
    assert str(backup) in proc.stdout
    assert config_file.stat().st_mode & 0o777 == 0o640
    # Running it again finds nothing to do.
    again = run_tool("--path", str(config_file), "--force")
    assert again.returncode == 0
    assert "already at version 2.6.0" in again.stdout
    assert load(config_file) == data


def test_tool_asks_before_writing(config_file: pathlib.Path) -> None:
    before = config_file.read_bytes()
    proc = run_tool("--path", str(config_file), stdin="n\n")
    assert proc.returncode == errors.EXIT_CONFIRMATION
    assert config_file.read_bytes() == before
    assert proc.stderr.count("\n") == 1
    proc = run_tool("--path", str(config_file), "--no-backup", stdin="y\n")
    assert proc.returncode == 0, proc.stderr
    assert load(config_file)["version"] == constants.CONFIG_VERSION
    assert backups(config_file) == []


def test_tool_finds_the_file_under_the_root(tmp_path: pathlib.Path) -> None:
    from ganeti import pathutils
    target = pathlib.Path(pathutils.Paths(str(tmp_path)).cluster_conf_file)
    target.parent.mkdir(parents=True)
    target.write_bytes((DATA / "config-2.0-kvm-mixed.json").read_bytes())
    proc = run_tool("-f", env={"GANETI_ROOTDIR": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    assert load(target)["version"] == constants.CONFIG_VERSION
    # --path may also name the data directory, as in Ganeti.
    proc = run_tool("--path", str(target.parent), "-f")
    assert "already at version" in proc.stdout


@pytest.mark.parametrize("content, fragment", [
    (b'{"version": 2070000, "cluster": {}}', "2.7.0 is newer"),
    (b"not json", "not valid JSON"),
    (b'{"cluster": {}}', "no 'version'"),
])
def test_tool_reports_bad_files(tmp_path: pathlib.Path, content: bytes,
                                fragment: str) -> None:
    path = tmp_path / "config.data"
    path.write_bytes(content)
    proc = run_tool("--path", str(path), "-f")
    assert proc.returncode == errors.EXIT_FAILURE
    assert fragment in proc.stderr
    assert proc.stderr.startswith("cfgupgrade: error: ")
    assert proc.stderr.count("\n") == 1
    assert path.read_bytes() == content


def test_tool_refuses_to_write_what_would_not_load(
        tmp_path: pathlib.Path) -> None:
    data = golden_input("2.0-xen-kvm")
    data["cluster"]["mystery_setting"] = 1
    path = tmp_path / "config.data"
    path.write_text(json.dumps(data))
    proc = run_tool("--path", str(path), "-f")
    assert proc.returncode == errors.EXIT_FAILURE
    assert "mystery_setting" in proc.stderr
    assert load(path) == data
    assert backups(path) == []


def test_tool_missing_file(tmp_path: pathlib.Path) -> None:
    proc = run_tool("--path", str(tmp_path / "nope" / "config.data"), "-f")
    assert proc.returncode == errors.EXIT_FAILURE
    assert "Cannot read configuration file" in proc.stderr


def test_main_in_process(config_file: pathlib.Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    code = cfgupgrade.main(["--path", str(config_file), "-f", "--debug"],
                           now=lambda: 0.0)
    assert code == 0
    out = capsys.readouterr().out
    assert "Checked: 3 node(s), 5 instance(s)" in out
    (backup,) = backups(config_file)
    assert backup.name.startswith("config.data.bak-19")
    # A second backup at the same second does not overwrite the first.
    config_file.write_bytes((DATA / "config-2.0-xen-kvm.json").read_bytes())
    assert cfgupgrade.main(["--path", str(config_file), "-f"],
                           now=lambda: 0.0) == 0
    assert len(backups(config_file)) == 2


def test_main_reads_and_empties_the_journal(config_file: pathlib.Path) -> None:
    """cfgupgrade upgrades the complete document (config.data with its
    journal applied), backs that up, and leaves an empty journal."""
    from ganeti.config import journal

    doc = load(config_file)
    entry = {"serial": doc["serial_no"] + 1,
             "set": {"serial_no": doc["serial_no"] + 1,
                     "cluster": {**doc["cluster"], "tags": ["journaled"]}}}
    journal_file = pathlib.Path(journal.journal_path(str(config_file)))
    journal_file.write_bytes(journal.encode_entry(entry))
    assert cfgupgrade.main(["--path", str(config_file), "-f"],
                           now=lambda: 0.0) == 0
    upgraded = load(config_file)
    assert upgraded["serial_no"] == doc["serial_no"] + 1
    assert upgraded["cluster"]["tags"] == ["journaled"]
    assert journal_file.read_bytes() == b""
    (backup,) = backups(config_file)
    assert load(backup)["cluster"]["tags"] == ["journaled"]
