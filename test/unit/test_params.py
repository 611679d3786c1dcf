"""Parameter declarations, conversion, validation and inheritance."""

from __future__ import annotations

from typing import Any

import pytest

from ganeti import constants, errors, ht, objects, params, pathutils

ALL_TABLES: list[tuple[str, Any]] = [
    *((f"hv {hv}", spec) for hv, spec in params.HV_PARAMETERS.items()),
    ("be", params.BE_PARAMETERS),
    ("nic", params.NIC_PARAMETERS),
    *((f"disk {dt}", spec) for dt, spec in params.DISK_PARAMETERS.items()),
]
ALL_SPECS = [(label, spec) for label, table in ALL_TABLES
             for spec in table.values()]


def _ids(item: Any) -> str:
    return f"{item[0]}:{item[1].name}"


def make_cluster(**kwargs: Any) -> objects.Cluster:
    return objects.Cluster(cluster_name="cluster.example.com",
                           master_node="node1.example.com",
                           master_ip="192.0.2.1", **kwargs)


def make_instance(**kwargs: Any) -> objects.Instance:
    base: dict[str, Any] = {"name": "inst1.example.com",
                            "primary_node": "node1.example.com",
                            "hypervisor": constants.HT_KVM,
                            "disk_template": constants.DT_PLAIN,
                            "os": "debian+squeeze"}
    base.update(kwargs)
    return objects.Instance(**base)


# --- Tables -----------------------------------------------------------------

def test_every_component_is_declared() -> None:
    assert set(params.HV_PARAMETERS) == set(constants.HYPER_TYPES)
    assert set(params.DISK_PARAMETERS) == set(constants.DISK_TEMPLATES)
    assert params.DISK_PARAMETERS[constants.DT_DISKLESS] == {}


@pytest.mark.parametrize("item", ALL_SPECS, ids=_ids)
def test_default_passes_its_own_check(item: tuple[str, params.ParamSpec]) -> None:
    _, spec = item
    assert spec.check(spec.default)
    assert spec.kind in params.PARAM_KINDS
    assert spec.doc
    # The default survives conversion unchanged.
    assert params.convert_value(spec, spec.default) == spec.default


@pytest.mark.parametrize("item", ALL_SPECS, ids=_ids)
def test_table_keys_match_names(item: tuple[str, params.ParamSpec]) -> None:
    label, spec = item
    table = dict(ALL_TABLES)[label]
    assert table[spec.name] is spec


def test_ganeti_21_kvm_names_and_defaults() -> None:
    kvm = params.hv_defaults(constants.HT_KVM)
    # Ganeti 2.1's names, plus the 2.6+ ones this driver takes as well.
    later = {"kvm_path", "machine_version", "cpu_type", "serial_speed",
             "kvm_extra"}
    assert set(kvm) - later == {
        "kernel_path", "initrd_path", "root_path", "kernel_args", "acpi",
        "serial_console", "vnc_bind_address", "vnc_tls", "vnc_x509_path",
        "vnc_x509_verify", "vnc_password_file", "cdrom_image_path",
        "boot_order", "nic_type", "disk_type", "usb_mouse", "migration_port",
        "migration_bandwidth", "migration_downtime", "use_localtime",
        "disk_cache", "security_model", "security_domain", "kvm_flag",
        "vhost_net", "use_chroot"}
    assert kvm["migration_port"] == 8102
    assert kvm["root_path"] == "/dev/vda1"
    assert kvm["boot_order"] == "disk"
    assert kvm["nic_type"] == kvm["disk_type"] == "paravirtual"


def test_xen_and_chroot_names() -> None:
    assert set(params.hv_defaults(constants.HT_XEN_PVM)) == {
        "bootloader_path", "bootloader_args", "use_bootloader", "kernel_path",
        "initrd_path", "root_path", "kernel_args", "migration_port",
        "cpu_mask"}
    assert set(params.hv_defaults(constants.HT_XEN_HVM)) == {
        "acpi", "pae", "vnc_bind_address", "vnc_password_file",
        "cdrom_image_path", "boot_order", "nic_type", "disk_type",
        "device_model", "kernel_path", "use_localtime", "migration_port",
        "cpu_mask"}
    assert params.hv_defaults(constants.HT_CHROOT) == {
        "init_script": "/ganeti-chroot"}


def test_vnc_password_file_is_the_configured_path(tmp_path: Any) -> None:
    configured = pathutils.Paths().vnc_password_file
    assert configured.endswith("/ganeti/vnc-cluster-password")
    try:
        pathutils.set_root(str(tmp_path))
        # Stored unrelocated; a node relocates it at use time.
        assert params.hv_defaults("kvm")["vnc_password_file"] == configured
        assert params.hv_defaults("xen-hvm")["vnc_password_file"] == configured
        assert pathutils.get().under(configured) == \
            pathutils.get().vnc_password_file
    finally:
        pathutils.set_root(None)


def test_globals_are_flagged() -> None:
    assert frozenset({"migration_port", "migration_bandwidth"}) == \
        params.HVC_GLOBALS
    for label, spec in ALL_SPECS:
        assert spec.global_only == (label.startswith("hv ")
                                    and spec.name in params.HVC_GLOBALS)


def test_other_defaults() -> None:
    assert params.be_defaults() == {"maxmem": 128, "minmem": 128, "vcpus": 1,
                                    "auto_balance": True,
                                    "always_failover": False,
                                    "spindle_use": 1}
    assert params.nic_defaults() == {"mode": "bridged",
                                     "link": constants.DEFAULT_BRIDGE}
    assert params.disk_defaults("plain") == {"stripes": 1, "stripe_size": 64}
    assert params.disk_defaults("drbd")["resync_rate"] == 61440
    assert params.disk_defaults("file") == {"driver": "loop"}
    assert params.disk_defaults("diskless") == {}


def test_defaults_are_fresh_copies() -> None:
    first = params.be_defaults()
    first["maxmem"] = 1
    assert params.be_defaults()["maxmem"] == 128


@pytest.mark.parametrize("fn", [params.hv_defaults, params.disk_defaults])
def test_unknown_owner(fn: Any) -> None:
    with pytest.raises(errors.ParameterError, match="Unknown"):
        fn("floppy")


# --- Conversion -------------------------------------------------------------

def _spec(table: Any, name: str) -> params.ParamSpec:
    spec: params.ParamSpec = table[name]
    return spec


ACPI = _spec(params.HV_PARAMETERS["kvm"], "acpi")
MEMORY = _spec(params.BE_PARAMETERS, "maxmem")
VCPUS = _spec(params.BE_PARAMETERS, "vcpus")


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("True", True), ("yes", True), ("1", True), ("on", True),
    ("false", False), ("NO", False), ("0", False), ("off", False),
    (True, True), (False, False), (1, True), (0, False)])
def test_bool_conversion(text: Any, value: bool) -> None:
    assert params.convert_value(ACPI, text) is value


@pytest.mark.parametrize("bad", ["maybe", "", 2, None, 1.0, []])
def test_bad_bool(bad: Any) -> None:
    with pytest.raises(errors.ParameterError) as info:
        params.convert_value(ACPI, bad, params.hv_component("kvm"))
    assert str(info.value) == (f"hvparams 'kvm': parameter 'acpi': "
                               f"expected a boolean, got {bad!r}")
    assert info.value.details["parameter"] == "acpi"


def test_the_example_message() -> None:
    with pytest.raises(errors.ParameterError,
                       match=r"^hvparams 'kvm': parameter 'acpi': expected a "
                             r"boolean, got 'maybe'$"):
        params.check_hv_params("kvm", {"acpi": "maybe"})


@pytest.mark.parametrize(("text", "value"), [
    ("512", 512), (512, 512), ("512M", 512), ("512m", 512), ("2G", 2048),
    ("2g", 2048), ("1.5G", 1536), ("1T", 1024 * 1024), (" 64 MiB", 64),
    ("1.5", 2), ("0.1M", 1), ("9" * 400, int("9" * 400)),
    ("1" + "0" * 400 + ".5G", (10 ** 400) * 1024 + 512)])
def test_size_conversion(text: Any, value: int) -> None:
    assert params.parse_size(text) == value
    if value <= constants.MAX_MEMORY_MIB:
        assert params.convert_value(MEMORY, text) == value
    else:  # parsed exactly, then refused by the parameter's bound
        with pytest.raises(errors.ParameterError,
                           match=f"from 1 to {constants.MAX_MEMORY_MIB}"):
            params.convert_value(MEMORY, text)


@pytest.mark.parametrize("bad", ["", "12Q", "G", "-5", "0", 0, True, None,
                                 "1e3"])
def test_bad_size(bad: Any) -> None:
    with pytest.raises(errors.ParameterError, match="parameter 'maxmem'"):
        params.convert_value(MEMORY, bad, params.BE_COMPONENT)


def test_int_conversion() -> None:
    assert params.convert_value(VCPUS, "4") == 4
    assert params.convert_value(VCPUS, 4.0) == 4
    for bad in ["four", "4.5", 4.5, True, "0", 0, None, 1_000_000_000]:
        with pytest.raises(errors.ParameterError,
                           match="expected an integer from 1 to 4096"):
            params.convert_value(VCPUS, bad)


def test_string_conversion() -> None:
    root = _spec(params.HV_PARAMETERS["kvm"], "root_path")
    assert params.convert_value(root, "/dev/sda") == "/dev/sda"
    assert params.convert_value(root, None) == ""
    with pytest.raises(errors.ParameterError, match="expected a string"):
        params.convert_value(root, 5)
    maybe = params.ParamSpec("x", ht.TMaybe(ht.TString), None,
                             "doc", kind="maybe-string")
    assert params.convert_value(maybe, "none") is None
    assert params.convert_value(maybe, None) is None
    assert params.convert_value(maybe, "abc") == "abc"


def test_enum_values_are_checked() -> None:
    assert params.check_hv_params("kvm", {"boot_order": "cdrom"}) == {
        "boot_order": "cdrom"}
    for name, bad in [("boot_order", "floppy"), ("nic_type", "virtio"),
                      ("disk_type", "ioemu"), ("security_model", "root"),
                      ("disk_cache", "unsafe"), ("kvm_flag", "yes"),
                      ("usb_mouse", "trackball")]:
        with pytest.raises(errors.ParameterError,
                           match=f"parameter '{name}': expected one of"):
            params.check_hv_params("kvm", {name: bad})
    with pytest.raises(errors.ParameterError, match="boot device sequence"):
        params.check_hv_params("xen-hvm", {"boot_order": "disk"})
    assert params.check_hv_params("xen-hvm", {"boot_order": "dcn"})


def test_path_and_address_checks() -> None:
    assert params.check_hv_params("kvm", {"vnc_bind_address": "127.0.0.1"})
    assert params.check_hv_params("kvm", {"vnc_bind_address": "/run/vnc"})
    assert params.check_hv_params("kvm", {"initrd_path": ""})
    with pytest.raises(errors.ParameterError, match="vnc_bind_address"):
        params.check_hv_params("kvm", {"vnc_bind_address": "somewhere"})
    with pytest.raises(errors.ParameterError, match="kernel_path"):
        params.check_hv_params("xen-pvm", {"kernel_path": ""})
    with pytest.raises(errors.ParameterError, match="migration_port"):
        params.check_hv_params("kvm", {"migration_port": "70000"})


def test_disk_checks() -> None:
    assert params.check_disk_params("plain", {"stripes": "2",
                                              "stripe_size": "128"}) == {
        "stripes": 2, "stripe_size": 128}
    with pytest.raises(errors.ParameterError, match="power of two"):
        params.check_disk_params("plain", {"stripe_size": 100})
    with pytest.raises(errors.ParameterError, match="stripes"):
        params.check_disk_params("plain", {"stripes": 0})
    assert params.check_disk_params("drbd", {"meta_flushes": "no"}) == {
        "meta_flushes": False}
    with pytest.raises(errors.ParameterError, match="driver"):
        params.check_disk_params("file", {"driver": "nfs"})


# --- Unknown names ----------------------------------------------------------

def test_unknown_hv_parameter_names_parameter_and_hypervisor() -> None:
    with pytest.raises(errors.ParameterError,
                       match=r"^Unknown hypervisor parameter 'foo' for "
                             r"hypervisor 'kvm'$") as info:
        params.check_hv_params("kvm", {"foo": 1})
    assert info.value.details == {"parameter": "foo",
                                  "component": "hvparams 'kvm'"}


def test_unknown_name_points_at_the_owner() -> None:
    with pytest.raises(errors.ParameterError,
                       match=r"for hypervisor 'kvm' .*backend"):
        params.check_hv_params("kvm", {"memory": 512})
    with pytest.raises(errors.ParameterError,
                       match=r"for hypervisor 'kvm' .*'xen-hvm'"):
        params.check_hv_params("kvm", {"pae": True})
    with pytest.raises(
            errors.ParameterError,
            match=r"Unknown disk parameter 'resync_rate' for disk template "
                  r"'plain' .*disk template 'drbd'"):
        params.check_disk_params("plain", {"resync_rate": 1000})
    with pytest.raises(errors.ParameterError,
                       match="Unknown backend parameter 'acpi' in beparams"):
        params.check_be_params({"acpi": True})
    with pytest.raises(errors.ParameterError,
                       match="Unknown NIC parameter 'bridge'"):
        params.check_nic_params({"bridge": "br0"})
    with pytest.raises(errors.ParameterError,
                       match="Unknown disk parameter 'stripes' for disk "
                             "template 'diskless'"):
        params.check_disk_params("diskless", {"stripes": 1})


def test_unknown_hypervisor_and_template() -> None:
    with pytest.raises(errors.ParameterError, match="Unknown hypervisor 'vbox'"):
        params.check_hv_params("vbox", {})
    with pytest.raises(errors.ParameterError,
                       match="Unknown disk template 'lvm'"):
        params.check_disk_params("lvm", {})


@pytest.mark.parametrize("bad", [None, [], "acpi=true", 3])
def test_non_dictionaries(bad: Any) -> None:
    with pytest.raises(errors.ParameterError, match="expected a dictionary"):
        params.check_be_params(bad)
    with pytest.raises(errors.ParameterError, match="expected a dictionary"):
        params.update_hv_params("kvm", {}, bad)


def test_non_string_names() -> None:
    with pytest.raises(errors.ParameterError, match="Unknown backend parameter 1"):
        params.check_be_params({1: 2})


# --- Global parameters ------------------------------------------------------

@pytest.mark.parametrize("name", sorted(params.HVC_GLOBALS))
def test_globals_only_at_cluster_level(name: str) -> None:
    assert params.check_hv_params("kvm", {name: 9000}, level="cluster")
    with pytest.raises(errors.ParameterError,
                       match=f"'{name}' is global.*not per instance"):
        params.check_hv_params("kvm", {name: 9000}, level="instance")
    with pytest.raises(errors.ParameterError,
                       match=f"'{name}' is global.*not per OS"):
        params.check_hv_params("kvm", {name: 9000}, level="os")
    with pytest.raises(errors.ParameterError, match="is global"):
        params.update_hv_params("kvm", {}, {name: 9000}, level="instance")


def test_default_on_a_global_at_instance_level() -> None:
    # "default" on a global at instance level is simply absent: no error,
    # nothing stored.
    assert params.update_hv_params("kvm", {}, {"migration_port": "default"},
                                   level="instance") == {}


def test_bad_level() -> None:
    with pytest.raises(errors.ProgrammerError):
        params.check_hv_params("kvm", {}, level="rack")  # type: ignore[arg-type]


# --- update_params ----------------------------------------------------------

def test_update_sets_converts_and_removes() -> None:
    current = {"acpi": False, "kernel_args": "quiet"}
    new = params.update_hv_params("kvm", current,
                                  {"acpi": "default", "vnc_tls": "yes",
                                   "kernel_args": "ro single"},
                                  level="instance")
    assert new == {"kernel_args": "ro single", "vnc_tls": True}
    assert current == {"acpi": False, "kernel_args": "quiet"}


def test_update_default_of_absent_key_is_a_no_op() -> None:
    assert params.update_be_params({"vcpus": 2}, {"maxmem": "default"}) == {
        "vcpus": 2}


def test_update_default_of_unknown_key_is_refused() -> None:
    with pytest.raises(errors.ParameterError, match="Unknown NIC parameter"):
        params.update_nic_params({}, {"speed": "default"})


def test_update_generic_with_a_plain_label() -> None:
    with pytest.raises(errors.ParameterError,
                       match="Unknown parameter 'x' in my component"):
        params.update_params({}, {"x": 1}, component="my component",
                             spec=params.BE_PARAMETERS)
    with pytest.raises(errors.ParameterError, match=r"^my component: parameter"):
        params.update_params({}, {"vcpus": "x"}, component="my component",
                             spec=params.BE_PARAMETERS)


def test_update_disk_params() -> None:
    assert params.update_disk_params("drbd", {"resync_rate": 1},
                                      {"resync_rate": "default",
                                       "data_stripes": "3"}) == {
        "data_stripes": 3}


# --- NICs -------------------------------------------------------------------

def test_routed_nic_needs_ip() -> None:
    filled = params.fill(params.nic_defaults(), {"mode": "routed"})
    with pytest.raises(errors.ParameterError,
                       match="a routed NIC requires an IP address"):
        params.check_nic(filled, None)
    params.check_nic(filled, "192.0.2.10")
    params.check_nic(params.nic_defaults(), None)


def test_bridged_nic_needs_link() -> None:
    with pytest.raises(errors.ParameterError, match="bridged NIC requires"):
        params.check_nic({"mode": "bridged", "link": ""}, None)


def test_nic_mode_checked() -> None:
    with pytest.raises(errors.ParameterError, match="'mode': expected one of"):
        params.check_nic_params({"mode": "openvswitch"})


# --- OS parameters ----------------------------------------------------------

def test_os_params() -> None:
    declared = ["dhcp", "root_size"]
    assert params.check_os_params({"dhcp": "yes"}, declared) == {"dhcp": "yes"}
    with pytest.raises(errors.ParameterError,
                       match="Unknown OS parameter 'mirror' for OS 'debian'"):
        params.check_os_params({"mirror": "x"}, declared, os_name="debian")
    for bad in ["a b", "$(reboot)", "x;y", "'q'", 5, None, True]:
        with pytest.raises(errors.ParameterError,
                           match="parameter 'dhcp': expected a string of safe"):
            params.check_os_params({"dhcp": bad}, declared, os_name="debian")


def test_update_os_params() -> None:
    declared = {"dhcp", "root_size"}
    assert params.update_os_params({"dhcp": "no"},
                                   {"dhcp": "default", "root_size": "10G"},
                                   declared) == {"root_size": "10G"}
    with pytest.raises(errors.ParameterError, match="Unknown OS parameter"):
        params.update_os_params({}, {"other": "default"}, declared)


def test_os_levels() -> None:
    assert params.os_levels(None) == []
    assert params.os_levels("") == []
    assert params.os_levels("debian") == ["debian"]
    assert params.os_levels("debian+squeeze") == ["debian", "debian+squeeze"]
    assert params.split_os_name("debian+squeeze") == ("debian", "squeeze")


# --- fill and the Cluster methods -------------------------------------------

def test_fill_basics() -> None:
    assert params.fill({"a": 1, "b": 2}, {"b": 3}, None, {"c": 4}) == {
        "a": 1, "b": 3, "c": 4}
    defaults = {"a": 1}
    result = params.fill(defaults)
    result["a"] = 2
    assert defaults == {"a": 1}
    assert params.fill(None) == {}


def test_cluster_fill_hv_levels() -> None:
    cluster = make_cluster(
        hvparams={"kvm": {"kernel_args": "cluster", "acpi": False,
                          "migration_port": 9000}},
        os_hvp={"debian": {"kvm": {"kernel_args": "os", "root_path": "/os",
                                   "migration_port": 1}},
                "debian+squeeze": {"kvm": {"root_path": "/variant"}}})
    inst = make_instance(hvparams={"usb_mouse": "tablet",
                                   "migration_port": 2})
    filled = cluster.filled_hvparams(inst)
    assert filled["kernel_args"] == "os"
    assert filled["root_path"] == "/variant"
    assert filled["acpi"] is False
    assert filled["usb_mouse"] == "tablet"
    assert filled["vnc_tls"] is False          # declared default
    assert filled["migration_port"] == 9000    # globals: cluster only
    assert set(filled) == set(params.HV_PARAMETERS["kvm"])
    hidden = cluster.filled_hvparams(inst, skip_globals=True)
    assert not set(hidden) & params.HVC_GLOBALS
    # Another OS, another variant: only the base name applies.
    assert cluster.fill_hv("kvm", "debian+lenny")["root_path"] == "/os"
    assert cluster.fill_hv("kvm", "centos")["root_path"] == "/dev/vda1"
    assert cluster.fill_hv("kvm", None)["kernel_args"] == "cluster"


def test_cluster_fill_be_nic_disk_os() -> None:
    cluster = make_cluster(
        beparams={"default": {"maxmem": 512, "minmem": 256}},
        nicparams={"default": {"link": "br0"}},
        diskparams={"drbd": {"resync_rate": 1024}},
        osparams={"debian": {"dhcp": "yes", "mirror": "a"},
                  "debian+squeeze": {"mirror": "b"}})
    inst = make_instance(beparams={"vcpus": 4}, osparams={"dhcp": "no"},
                         disk_template="drbd")
    assert cluster.filled_beparams(inst) == {
        "maxmem": 512, "minmem": 256, "vcpus": 4, "auto_balance": True,
        "always_failover": False, "spindle_use": 1}
    nic = objects.NIC(mac="aa:00:00:00:00:01", nicparams={"mode": "routed"})
    assert cluster.filled_nicparams(nic) == {"mode": "routed", "link": "br0"}
    disk = objects.Disk(dev_type="drbd8", size=1024,
                        params={"data_stripes": 2})
    filled = cluster.filled_diskparams(inst, disk)
    assert filled["resync_rate"] == 1024
    assert filled["data_stripes"] == 2
    assert filled["meta_flushes"] is True
    assert cluster.filled_osparams(inst) == {"dhcp": "no", "mirror": "b"}
    assert cluster.fill_os("debian") == {"dhcp": "yes", "mirror": "a"}
    assert cluster.fill_be() == {**params.be_defaults(), "maxmem": 512,
                                 "minmem": 256}


def test_cluster_fill_unknown_hypervisor() -> None:
    with pytest.raises(errors.ParameterError, match="Unknown hypervisor"):
        make_cluster().fill_hv("vbox")


def test_upgrade_defaults() -> None:
    cluster = make_cluster(
        enabled_hypervisors=["kvm", "fake"],
        hvparams={"kvm": {"acpi": "false", "bogus": 1},
                  "xen-pvm": {"root_path": "/dev/xvda1"}},
        os_hvp={"debian": {"kvm": {"migration_port": 1, "acpi": True}}},
        beparams={"default": {"maxmem": "1G"}},
        diskparams={"plain": {"stripes": 2}})
    cluster.upgrade_defaults()
    kvm = cluster.hvparams["kvm"]
    assert kvm["acpi"] is False               # text converted
    assert kvm["bogus"] == 1                  # unknown kept for verify
    assert set(kvm) == set(params.HV_PARAMETERS["kvm"]) | {"bogus"}
    assert cluster.hvparams["fake"] == params.hv_defaults("fake")
    assert cluster.hvparams["xen-pvm"]["root_path"] == "/dev/xvda1"
    assert set(cluster.hvparams["xen-pvm"]) == set(
        params.HV_PARAMETERS["xen-pvm"])
    assert cluster.os_hvp == {"debian": {"kvm": {"acpi": True}}}
    assert cluster.beparams["default"] == {
        **params.be_defaults(), "maxmem": 1024}
    assert cluster.ndparams == params.nd_defaults()
    assert cluster.nicparams["default"] == params.nic_defaults()
    assert set(cluster.diskparams) == set(constants.DISK_TEMPLATES)
    assert cluster.diskparams["plain"] == {"stripes": 2, "stripe_size": 64}
    assert cluster.verify_params() == [
        "Unknown hypervisor parameter 'bogus' for hypervisor 'kvm'"]
    # Idempotent, and the result survives the record codec.
    snapshot = cluster.to_dict()
    cluster.upgrade_defaults()
    assert cluster.to_dict() == snapshot
    assert objects.Cluster.from_dict(snapshot).hvparams == cluster.hvparams


def test_verify_params_reports_every_problem() -> None:
    cluster = make_cluster(
        hvparams={"kvm": {"acpi": "maybe"}, "vbox": {}},
        os_hvp={"debian": {"kvm": {"migration_port": 1}, "qemu": {}}},
        beparams={"default": {"memory": -1}},
        nicparams={"default": {"mode": "switched"}},
        diskparams={"plain": {"resync_rate": 5}, "lvm": {}},
        osparams={"debian": {"x": "a b"}})
    problems = cluster.verify_params()
    assert len(problems) == 9
    joined = "\n".join(problems)
    for part in ["'acpi'", "'vbox'", "'migration_port' is global", "'qemu'",
                 "'memory'", "'mode'", "'resync_rate'", "'lvm'",
                 "osparams 'debian': parameter 'x'"]:
        assert part in joined


def test_names_of_other_components_are_refused_everywhere() -> None:
    tables: list[tuple[params.Component, Any]] = [
        *((params.hv_component(hv), spec)
          for hv, spec in params.HV_PARAMETERS.items()),
        *((params.disk_component(dt), spec)
          for dt, spec in params.DISK_PARAMETERS.items()),
        (params.BE_COMPONENT, params.BE_PARAMETERS),
        (params.NIC_COMPONENT, params.NIC_PARAMETERS)]
    every_name = {name for _, spec in tables for name in spec}
    for comp, spec in tables:
        for name in sorted(every_name - set(spec)):
            with pytest.raises(errors.ParameterError) as info:
                params.check_params({name: None}, component=comp, spec=spec)
            assert info.value.message.startswith("Unknown")
            assert repr(name) in info.value.message
            assert "(it belongs to " in info.value.message


# --- Ganeti 2.6 backend memory and node parameters ----------------------------

@pytest.mark.parametrize("func", [
    params.check_be_params,
    lambda changes: params.update_be_params({"vcpus": 2}, changes),
])
def test_memory_sets_maxmem_and_minmem(func: Any) -> None:
    result = func({"memory": "1G"})
    assert result["maxmem"] == result["minmem"] == 1024
    assert "memory" not in result
    # As in Ganeti, memory wins over a maxmem given beside it.
    assert func({"memory": 256, "maxmem": 512})["maxmem"] == 256


def test_memory_default_removes_both_overrides() -> None:
    current = {"maxmem": 512, "minmem": 256, "vcpus": 2}
    assert params.update_be_params(current, {"memory": "default"}) == {
        "vcpus": 2}


def test_bad_memory_is_named_memory() -> None:
    with pytest.raises(errors.ParameterError, match="parameter 'memory'"):
        params.check_be_params({"memory": "lots"})


def test_minmem_above_maxmem_is_refused() -> None:
    with pytest.raises(errors.ParameterError,
                       match=r"minmem \(512\) must not be greater than maxmem"
                             r" \(256\)"):
        params.check_be_params({"maxmem": 256, "minmem": "512"})
    with pytest.raises(errors.ParameterError, match="minmem"):
        params.update_be_params({"maxmem": 256}, {"minmem": 512})
    params.check_be_memory({"maxmem": 256, "minmem": 256})


def test_node_parameters_declared_with_ganeti_names() -> None:
    assert params.nd_defaults() == {
        "oob_program": "", "spindle_count": 1, "exclusive_storage": False,
        "ovs": False, "ovs_name": "switch1", "ovs_link": "", "ssh_port": 22,
        "cpu_speed": 1.0}
    assert params.check_nd_params({"spindle_count": "4", "cpu_speed": "1.5",
                                   "ovs": "yes"}) == {
        "spindle_count": 4, "cpu_speed": 1.5, "ovs": True}


def test_exclusive_storage_is_not_a_per_node_parameter() -> None:
    params.check_nd_params({"exclusive_storage": True})
    params.check_nd_params({"exclusive_storage": True}, level="group")
    with pytest.raises(errors.ParameterError, match="not per node"):
        params.check_nd_params({"exclusive_storage": True}, level="node")
    with pytest.raises(errors.ParameterError,
                       match="Unknown node parameter 'spindles'"):
        params.update_nd_params({}, {"spindles": 1}, level="node")


def test_node_parameters_fill_cluster_then_node() -> None:
    cluster = make_cluster(ndparams={"spindle_count": 2, "ssh_port": 2222})
    node = objects.Node(name="n1.example.com", primary_ip="192.0.2.1",
                        secondary_ip="192.0.2.1", ndparams={"spindle_count": 8})
    filled = cluster.filled_ndparams(node)
    assert filled["spindle_count"] == 8
    assert filled["ssh_port"] == 2222
    assert filled["oob_program"] == ""
