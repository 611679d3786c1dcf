"""The environment of OS scripts, per OS API version."""

from __future__ import annotations

from typing import Any

import pytest
from test_osdef_support import make_instance

from ganeti import constants, errors, objects
from ganeti.osdef import SCRIPT_PATH, OsDefinition, os_environment
from ganeti.osdef.environment import verify_environment

HVPARAMS = {"kernel_path": "/boot/vmlinuz", "acpi": True,
            "disk_type": "paravirtual", "nic_type": "e1000",
            "kernel_args": "ro console=ttyS0", "initrd_path": ""}
BEPARAMS = {"maxmem": 256, "minmem": 128, "vcpus": 2, "auto_balance": True}
NICPARAMS = [{"mode": "bridged", "link": "br0"},
             {"mode": "routed", "link": "100"}]
DISK_PATHS = ["/srv/ganeti/file-storage/i/disk0", "/dev/xenvg/disk1"]

#: The variables of Ganeti 2.0's API 10 for make_instance() with the
#: values above.
API10_ENV = {
    "PATH": SCRIPT_PATH,
    "OS_API_VERSION": "10",
    "INSTANCE_NAME": "inst1.example.com",
    "INSTANCE_OS": "testos+v1",
    "HYPERVISOR": "kvm",
    "DEBUG_LEVEL": "1",
    "OS_VARIANT": "",
    "DISK_COUNT": "2",
    "DISK_0_PATH": DISK_PATHS[0],
    "DISK_0_ACCESS": "rw",
    "DISK_0_FRONTEND_TYPE": "paravirtual",
    "DISK_0_BACKEND_TYPE": "file:blktap",
    "DISK_1_PATH": DISK_PATHS[1],
    "DISK_1_ACCESS": "ro",
    "DISK_1_FRONTEND_TYPE": "paravirtual",
    "DISK_1_BACKEND_TYPE": "block",
    "NIC_COUNT": "2",
    "NIC_0_MAC": "aa:00:00:00:00:01",
    "NIC_0_IP": "192.0.2.10",
    "NIC_0_MODE": "bridged",
    "NIC_0_LINK": "br0",
    "NIC_0_BRIDGE": "br0",
    "NIC_0_FRONTEND_TYPE": "e1000",
    "NIC_1_MAC": "aa:00:00:00:00:02",
    "NIC_1_MODE": "routed",
    "NIC_1_LINK": "100",
    "NIC_1_FRONTEND_TYPE": "e1000",
    "INSTANCE_BE_maxmem": "256",
    "INSTANCE_BE_minmem": "128",
    "INSTANCE_BE_vcpus": "2",
    "INSTANCE_BE_auto_balance": "True",
    "INSTANCE_HV_kernel_path": "/boot/vmlinuz",
    "INSTANCE_HV_acpi": "True",
    "INSTANCE_HV_disk_type": "paravirtual",
    "INSTANCE_HV_nic_type": "e1000",
    "INSTANCE_HV_kernel_args": "ro console=ttyS0",
    "INSTANCE_HV_initrd_path": "",
}

#: What every API gets besides the variables of Ganeti 2.0 (current
#: Ganeti gives them to API 10 scripts as well).
LATER_VARS = {
    "INSTANCE_HYPERVISOR": "kvm",
    "OS_NAME": "testos",
    "INSTANCE_UUID": "inst-uuid",
    "INSTANCE_PRIMARY_NODE": "node1.example.com",
    "INSTANCE_SECONDARY_NODES": "",
    "DISK_0_SIZE": "1024",
    "DISK_0_UUID": "disk-uuid-0",
    "DISK_1_SIZE": "512",
    "DISK_1_UUID": "disk-uuid-1",
    "NIC_0_UUID": "nic-uuid-0",
    "NIC_1_UUID": "nic-uuid-1",
}


def _osdef(api: int = 20, variants: tuple[str, ...] = ("v1", "v2"),
           parameters: dict[str, str] | None = None) -> OsDefinition:
    return OsDefinition(
        name="testos", path="/nonexistent/testos",
        api_versions=tuple(v for v in (20, 15, 10) if v <= api),
        api_version=api, scripts={}, variants=variants if api >= 15 else (),
        parameters=(parameters if parameters is not None
                    else {"dhcp": "", "swap-size": ""}) if api >= 20 else {})


def _env(osdef: OsDefinition, api: int, **kwargs: Any) -> dict[str, str]:
    instance = kwargs.pop("instance", None) or make_instance()
    disks = [(DISK_PATHS[i], d, "rw" if i == 0 else "ro")
             for i, d in enumerate(instance.disks)]
    args: dict[str, Any] = {
        "filled_hvparams": HVPARAMS, "filled_beparams": BEPARAMS,
        "filled_nicparams": NICPARAMS[:len(instance.nics)], "disks": disks,
        "debug_level": 1, "variant": "v1",
        "osparams": {"dhcp": "yes", "swap-size": "512M"}}
    args.update(kwargs)
    return os_environment(osdef, api, instance, **args)


def test_api10_gets_every_variable_but_a_variant_and_parameters() -> None:
    assert _env(_osdef(10), 10) == dict(API10_ENV, **LATER_VARS)


def test_api10_speaking_os_of_api20_gets_no_variant_nor_parameters() -> None:
    env = _env(_osdef(20), 10)
    assert env == dict(API10_ENV, **LATER_VARS)
    assert env["OS_VARIANT"] == ""
    assert not any(k.startswith(("OSP_", "INSTANCE_OS_PARAMETER_"))
                   for k in env)


def test_api15_adds_the_variant() -> None:
    env = _env(_osdef(15), 15)
    expected = dict(API10_ENV, OS_API_VERSION="15", **LATER_VARS,
                    OS_VARIANT="v1")
    assert env == expected


def test_api20_adds_os_parameters() -> None:
    env = _env(_osdef(20), 20)
    expected = dict(API10_ENV, OS_API_VERSION="20", **LATER_VARS,
                    OS_VARIANT="v1")
    expected.update({
        "OSP_DHCP": "yes", "OSP_SWAP_SIZE": "512M",
        "INSTANCE_OS_PARAMETER_DHCP": "yes",
        "INSTANCE_OS_PARAMETER_SWAP_SIZE": "512M",
    })
    assert env == expected


def test_no_variant_gives_an_empty_os_variant() -> None:
    env = _env(_osdef(15, variants=()), 15, variant=None)
    assert env["OS_VARIANT"] == ""


def test_secondary_nodes_listed() -> None:
    disks = [objects.Disk(dev_type=constants.LD_DRBD8, size=100,
                          logical_id=["node1.example.com", "node2.example.com",
                                      11000, 0, 0, "secret"])]
    instance = make_instance(disk_template=constants.DT_DRBD8, disks=disks)
    env = _env(_osdef(15), 15, instance=instance)
    assert env["INSTANCE_SECONDARY_NODES"] == "node2.example.com"
    assert env["DISK_0_BACKEND_TYPE"] == "block"


def test_bridge_only_for_bridged_nics() -> None:
    env = _env(_osdef(10), 10)
    assert env["NIC_0_BRIDGE"] == "br0"
    assert "NIC_1_BRIDGE" not in env
    assert "NIC_1_IP" not in env


def test_file_disk_backend_driver_falls_back_to_params() -> None:
    disk = objects.Disk(dev_type=constants.LD_FILE, size=10, logical_id=[],
                        params={"driver": "loop"})
    instance = make_instance(disks=[disk])
    assert _env(_osdef(10), 10, instance=instance)["DISK_0_BACKEND_TYPE"] == \
        "file:loop"


def test_frontend_types_only_when_the_hypervisor_has_them() -> None:
    env = _env(_osdef(10), 10, filled_hvparams={"kernel_path": ""})
    assert not any(k.endswith("_FRONTEND_TYPE") for k in env)


def test_no_nics_no_disks() -> None:
    instance = make_instance(nics=[], disks=[],
                             disk_template=constants.DT_DISKLESS)
    env = _env(_osdef(10), 10, instance=instance)
    assert env["NIC_COUNT"] == "0"
    assert env["DISK_COUNT"] == "0"


@pytest.mark.parametrize("value", ["a b", "x;rm -rf /", "$(id)", "`id`",
                                   "a\nb", "quote'", 'dq"', "tab\t"])
def test_unsafe_os_parameter_refused(value: str) -> None:
    with pytest.raises(errors.ParameterError,
                       match="parameter 'swap-size'") as info:
        _env(_osdef(20), 20, osparams={"dhcp": "yes", "swap-size": value})
    assert info.value.details["parameter"] == "swap-size"
    assert "\n" not in info.value.message


def test_non_string_os_parameter_refused() -> None:
    with pytest.raises(errors.ParameterError, match="parameter 'dhcp'"):
        _env(_osdef(20), 20, osparams={"dhcp": 1})


def test_undeclared_os_parameter_refused() -> None:
    with pytest.raises(errors.ParameterError, match="Unknown OS parameter"):
        _env(_osdef(20), 20, osparams={"nope": "x"})


def test_os_parameters_ignored_below_api20() -> None:
    env = _env(_osdef(15), 15, osparams={"nope": "a b"})
    assert "OSP_NOPE" not in env


def test_all_values_are_strings() -> None:
    env = _env(_osdef(20), 20)
    assert all(isinstance(k, str) and isinstance(v, str)
               for k, v in env.items())


def test_extra_variables() -> None:
    env = _env(_osdef(10), 10, extra={"EXP_SIZE_FD": "7"})
    assert env["EXP_SIZE_FD"] == "7"
    with pytest.raises(errors.ProgrammerError, match="would replace"):
        _env(_osdef(10), 10, extra={"INSTANCE_NAME": "other"})


def test_bad_calls_are_programmer_errors() -> None:
    with pytest.raises(errors.ProgrammerError, match="not supported"):
        _env(_osdef(20), 25)
    with pytest.raises(errors.ProgrammerError, match="does not speak"):
        _env(_osdef(15), 20)
    with pytest.raises(errors.ProgrammerError, match="debug level"):
        _env(_osdef(10), 10, debug_level=-1)
    with pytest.raises(errors.ProgrammerError, match="nicparams"):
        _env(_osdef(10), 10, filled_nicparams=[])
    instance = make_instance()
    with pytest.raises(errors.ProgrammerError, match="access mode"):
        os_environment(_osdef(10), 10, instance, filled_hvparams={},
                       filled_beparams={}, filled_nicparams=NICPARAMS,
                       disks=[("/dev/x", instance.disks[0], "rx")])


def test_bad_variant_refused() -> None:
    with pytest.raises(errors.ParameterError, match="Invalid variant"):
        _env(_osdef(15), 15, variant="a b")


def test_nul_in_value_refused() -> None:
    with pytest.raises(errors.ParameterError, match="NUL"):
        _env(_osdef(10), 10,
             filled_hvparams=dict(HVPARAMS, kernel_args="a\0b"))


def test_verify_environment() -> None:
    env = verify_environment(_osdef(20), {"dhcp": "no"}, variant="v2")
    assert env == {"PATH": SCRIPT_PATH, "OS_API_VERSION": "20",
                   "OS_NAME": "testos", "OS_VARIANT": "v2",
                   "DEBUG_LEVEL": "0", "OSP_DHCP": "no",
                   "INSTANCE_OS_PARAMETER_DHCP": "no"}
