"""Parameter declarations and the one inheritance rule.

Every tunable of a hypervisor, of the backend (memory, vcpus), of NICs and
of disk templates is declared once here as a :class:`ParamSpec` (name,
check, default, documentation, CLI value kind, global-only flag).  The code
that validates opcodes, fills effective values, upgrades old configurations
and prints help reads these tables.  Each component declares and validates
only its own keys; a name no component declares is refused at the edge.

The inheritance rule is the same everywhere (:func:`fill`)::

    declared defaults
      -> cluster level     (Cluster.hvparams[hv], beparams["default"],
                            nicparams["default"], diskparams[template],
                            osparams[os])
      -> per-OS level      (Cluster.os_hvp[os][hv]; "os" then "os+variant")
      -> object level      (Instance.hvparams/beparams/osparams,
                            NIC.nicparams, Disk.params)

Later levels win; a key absent at a level is inherited from the level
before.  A level stores only what was set there; setting a value to the
word ``default`` (:data:`constants.VALUE_DEFAULT`) in :func:`update_params`
removes the override so the value is inherited again.  One consequence,
shared with Ganeti: an enumerated value that is itself spelled ``default``
(kvm ``disk_cache``) is set by removing the override, which inherits the
cluster's value.

Hypervisor parameters follow Ganeti 2.1 (names and defaults of its
``HVC_DEFAULTS``).  Notes on choices:

- ``vnc_password_file`` (kvm and xen-hvm) defaults to the *configured*
  cluster file ``<sysconfdir>/ganeti/vnc-cluster-password``.  The value is
  stored unrelocated; a node running under ``GANETI_ROOTDIR`` relocates it
  at use time with ``pathutils.get().under(value)``, so one configuration
  serves every node whatever its root.
- kvm ``serial_console`` is a boolean (as in 2.1), not an enumeration.
- :data:`HVC_GLOBALS` (``migration_port``, ``migration_bandwidth``) can be
  set only at cluster level; per-OS and per-instance values are refused,
  and :meth:`Cluster.fill_hv <ganeti.objects.Cluster.fill_hv>` ignores any
  that an old configuration still carries.
- xen-pvm and xen-hvm add ``cpu_mask`` (Ganeti 2.6's name and syntax:
  ``all``, a CPU list, or one list per vCPU joined by ``:``) to 2.1's
  tables; the Xen drivers write it as the domain's ``cpus``.
- The fake hypervisor (Ganeti 2.1 declares none) declares
  ``migration_port`` (global; the fake driver migrates for real between
  node daemons), and ``kernel_path``/``kernel_args``, which the fake driver
  records with the instance's state so tests and demos can watch the
  inheritance rule at work without a real hypervisor.

Disk parameters were designed in 2.1 ("Disk/Net parameters") and shipped
in 2.6 under hyphenated names.  This project keeps the design's
underscore style: plain ``stripes``/``stripe_size`` (design names); drbd
``resync_rate`` (2.6 ``resync-rate``), ``data_stripes``/``meta_stripes``
(2.6 ``data-stripes``/``meta-stripes``: LV stripes of the data and
metadata volumes), ``disk_barriers``/``meta_barriers`` and
``data_flushes``/``meta_flushes`` (design names; booleans, true meaning
"use them"), the dynamic resync controller of 2.7 (``dynamic_resync``,
``c_plan_ahead``, ``c_fill_target``, ``c_delay_target``, ``c_max_rate``,
``c_min_rate``) and ``net_custom``/``disk_custom`` (extra drbdsetup
options); file ``driver`` (loop or blktap, the 2.1 file drivers);
diskless declares nothing.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Final, Literal, get_args

from ganeti import constants, errors, ht, pathutils

#: How a value arriving as text (CLI, RAPI) is turned into a typed value.
ParamKind = Literal["string", "maybe-string", "bool", "int", "float", "size"]
PARAM_KINDS: Final = frozenset(get_args(ParamKind))

#: Where a parameter dictionary lives.
Level = Literal["cluster", "os", "instance", "node", "group"]
LEVELS: Final = frozenset(get_args(Level))


@dataclass(frozen=True)
class ParamSpec:
    """The declaration of one parameter."""

    name: str
    check: ht.Check
    default: Any
    doc: str
    #: Settable only cluster-wide (Ganeti's ``HVC_GLOBALS``).
    global_only: bool = False
    #: How text from the CLI or RAPI is converted (see :func:`convert_value`).
    kind: ParamKind = "string"


@dataclass(frozen=True)
class Component:
    """Who owns a parameter dictionary; used to word error messages.

    ``str(component)`` is the location prefix of value errors
    (``hvparams 'kvm'``); :meth:`unknown` words the unknown-name error
    (``Unknown hypervisor parameter 'foo' for hypervisor 'kvm'``).
    """

    section: str
    noun: str = ""
    owner_kind: str = ""
    owner: str = ""

    def __str__(self) -> str:
        return f"{self.section} {self.owner!r}" if self.owner else self.section

    def unknown(self, name: Any) -> str:
        what = f"{self.noun} parameter" if self.noun else "parameter"
        msg = f"Unknown {what} {_show(name)}"
        if self.owner:
            return f"{msg} for {self.owner_kind} {self.owner!r}"
        return f"{msg} in {self.section}"


def hv_component(hv: str) -> Component:
    return Component("hvparams", "hypervisor", "hypervisor", hv)


def disk_component(template: str) -> Component:
    return Component("diskparams", "disk", "disk template", template)


def os_component(os_name: str = "") -> Component:
    return Component("osparams", "OS", "OS", os_name)


BE_COMPONENT: Final = Component("beparams", "backend")
ND_COMPONENT: Final = Component("ndparams", "node")
NIC_COMPONENT: Final = Component("nicparams", "NIC")


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


# --- Checks used by the tables ----------------------------------------------

def _opt_path(v: Any) -> bool:
    return v == "" or ht.TAbsolutePath(v)


def _bind_address(v: Any) -> bool:
    return v == "" or ht.TIPAddress(v) or ht.TAbsolutePath(v)


def _power_of_two(v: Any) -> bool:
    return _is_int(v) and v > 0 and v & (v - 1) == 0


_T_OPT_PATH: Final = ht.Check(_opt_path, "an absolute path or an empty string")
_T_STR: Final = ht.TString
_T_PORT: Final = ht.TRange(1, 65535)
_T_BIND: Final = ht.Check(
    _bind_address,
    "an IP address, an absolute path (unix socket) or an empty string")
_T_POW2: Final = ht.Check(_power_of_two, "a power of two")
_T_KVM_FLAG: Final = ht.TElemOf(["", "enabled", "disabled"])
_T_USB_MOUSE: Final = ht.TElemOf(["", "mouse", "tablet"])
_CPU_LIST: Final = r"(all|\d+(-\d+)?(,\d+(-\d+)?)*)"
#: ``all``, a CPU list (``0-2,5``), or one list per vCPU joined by ``:``
#: (``0:1-3:all``; the form of Ganeti's later ``cpu_mask``).
_T_CPU_MASK: Final = ht.TRegex(
    rf"{_CPU_LIST}(:{_CPU_LIST})*",
    "'all', a CPU list like '0-2,5', or one list per vCPU joined by ':'")
_T_HVM_BOOT: Final = ht.TRegex(
    r"[acdn]+", "a boot device sequence of a, c, d, n (e.g. 'cd')")

KVM_NIC_TYPES: Final = frozenset([
    "rtl8139", "ne2k_pci", "ne2k_isa", "i82551", "i82557b", "i82559er",
    "pcnet", "e1000", "paravirtual"])
HVM_NIC_TYPES: Final = frozenset(["rtl8139", "ne2k_pci", "ne2k_isa",
                                  "paravirtual"])
KVM_DISK_TYPES: Final = frozenset(["paravirtual", "ide", "scsi", "sd", "mtd",
                                   "pflash"])
HVM_DISK_TYPES: Final = frozenset(["paravirtual", "ioemu"])
KVM_BOOT_ORDERS: Final = frozenset(["disk", "cdrom", "network"])
KVM_DISK_CACHES: Final = frozenset(["default", "none", "writethrough",
                                    "writeback"])
KVM_SECURITY_MODELS: Final = frozenset(["none", "user", "pool"])

#: Hypervisor parameters settable only at cluster level.
HVC_GLOBALS: Final = frozenset(["migration_port", "migration_bandwidth"])

#: The one parameter group of ``beparams``/``nicparams`` (Ganeti's
#: ``PP_DEFAULT``; the design keeps the level for future instance classes).
PP_DEFAULT: Final = "default"


def _spec(name: str, check: ht.Check, default: Any, doc: str,
          kind: ParamKind = "string") -> ParamSpec:
    return ParamSpec(name, check, default, doc,
                     global_only=name in HVC_GLOBALS, kind=kind)


def _table(*specs: ParamSpec) -> Mapping[str, ParamSpec]:
    return MappingProxyType({s.name: s for s in specs})


def _bool(name: str, default: bool, doc: str) -> ParamSpec:
    return _spec(name, ht.TBool, default, doc, "bool")


#: The largest integer a parameter table accepts unless its check is
#: tighter: the values end in C ints of a hypervisor or a tool.
MAX_PARAM_INT: Final = (1 << 31) - 1


def _int(name: str, check: ht.Check, default: int, doc: str) -> ParamSpec:
    bounded = ht.Check(lambda v: check(v) and v <= MAX_PARAM_INT,
                       f"{check.desc} of at most {MAX_PARAM_INT}")
    return _spec(name, bounded, default, doc, "int")


_VNC_PASSWORD_FILE: Final = pathutils.Paths().vnc_password_file

_KVM: Final = _table(
    _spec("kernel_path", _T_OPT_PATH, "/boot/vmlinuz-2.6-kvmU",
          "Kernel to boot directly; empty boots from the disk"),
    _spec("initrd_path", _T_OPT_PATH, "", "Initial ramdisk; empty for none"),
    _spec("root_path", _T_STR, "/dev/vda1", "Root device given to the kernel"),
    _spec("kernel_args", _T_STR, "ro", "Extra kernel command line"),
    _bool("acpi", True, "Enable ACPI in the guest"),
    _bool("serial_console", True, "Connect the console to a serial port"),
    _spec("vnc_bind_address", _T_BIND, "",
          "VNC listen address or unix socket; empty disables VNC"),
    _bool("vnc_tls", False, "Use TLS for VNC"),
    _spec("vnc_x509_path", _T_OPT_PATH, "",
          "Directory of the VNC TLS certificates"),
    _bool("vnc_x509_verify", False, "Verify VNC client certificates"),
    _spec("vnc_password_file", _T_OPT_PATH, _VNC_PASSWORD_FILE,
          "File holding the VNC password (configured path)"),
    _spec("cdrom_image_path", _T_OPT_PATH, "", "ISO image for the CD-ROM"),
    _spec("boot_order", ht.TElemOf(KVM_BOOT_ORDERS), "disk", "Boot device"),
    _spec("nic_type", ht.TElemOf(KVM_NIC_TYPES), "paravirtual",
          "Emulated NIC model"),
    _spec("disk_type", ht.TElemOf(KVM_DISK_TYPES), "paravirtual",
          "Emulated disk interface"),
    _spec("usb_mouse", _T_USB_MOUSE, "", "USB pointer device; empty for none"),
    _int("migration_port", _T_PORT, 8102, "TCP port for live migration"),
    _int("migration_bandwidth", ht.TPositiveInt, 32,
         "Maximum migration bandwidth (MiB/s)"),
    _int("migration_downtime", ht.TPositiveInt, 30,
         "Maximum migration downtime (ms)"),
    _bool("use_localtime", False, "Guest clock in local time, not UTC"),
    _spec("disk_cache", ht.TElemOf(KVM_DISK_CACHES), "default",
          "Host cache mode of the disks"),
    _spec("security_model", ht.TElemOf(KVM_SECURITY_MODELS), "none",
          "Run the VM process as root, as a user, or from the uid pool"),
    _spec("security_domain", _T_STR, "",
          "User to run as when security_model is 'user'"),
    _spec("kvm_flag", _T_KVM_FLAG, "",
          "Force KVM acceleration on or off; empty leaves it to qemu"),
    _bool("vhost_net", False, "Use vhost-net for paravirtual NICs"),
    _bool("use_chroot", False, "Run the VM process in a chroot"),
    _spec("kvm_path", ht.TAbsolutePath, constants.KVM_PATH,
          "The qemu binary to run"),
    _spec("machine_version", _T_STR, "",
          "qemu machine type (-machine); empty for qemu's 'pc'"),
    _spec("cpu_type", _T_STR, "", "qemu CPU model (-cpu); empty for qemu's"),
    _int("serial_speed", ht.TElemOf([9600, 19200, 38400, 57600, 115200]),
         38400, "Baud rate of the serial console given to the kernel"),
    _spec("kvm_extra", _T_STR, "",
          "Extra qemu arguments, split like a shell would"),
)

_XEN_PVM: Final = _table(
    _spec("bootloader_path", _T_OPT_PATH, "",
          "Bootloader (e.g. pygrub); empty for the default"),
    _spec("bootloader_args", _T_STR, "", "Arguments of the bootloader"),
    _bool("use_bootloader", False, "Boot with the bootloader, not a kernel"),
    _spec("kernel_path", ht.TAbsolutePath, "/boot/vmlinuz-2.6-xenU",
          "Kernel of the domain"),
    _spec("initrd_path", _T_OPT_PATH, "", "Initial ramdisk; empty for none"),
    _spec("root_path", _T_STR, "/dev/sda1", "Root device given to the kernel"),
    _spec("kernel_args", _T_STR, "ro", "Extra kernel command line"),
    _int("migration_port", _T_PORT, 8002, "TCP port of xend relocation"),
    _spec("cpu_mask", _T_CPU_MASK, "all", "Physical CPUs the vCPUs may run on"),
)

_XEN_HVM: Final = _table(
    _bool("acpi", True, "Enable ACPI in the guest"),
    _bool("pae", True, "Enable PAE in the guest"),
    _spec("vnc_bind_address", ht.TIPAddress, "0.0.0.0", "VNC listen address"),
    _spec("vnc_password_file", ht.TAbsolutePath, _VNC_PASSWORD_FILE,
          "File holding the VNC password (configured path)"),
    _spec("cdrom_image_path", _T_OPT_PATH, "", "ISO image for the CD-ROM"),
    _spec("boot_order", _T_HVM_BOOT, "cd", "Boot device sequence"),
    _spec("nic_type", ht.TElemOf(HVM_NIC_TYPES), "rtl8139",
          "Emulated NIC model"),
    _spec("disk_type", ht.TElemOf(HVM_DISK_TYPES), "paravirtual",
          "Disk interface"),
    _spec("device_model", ht.TAbsolutePath, "/usr/lib/xen/bin/qemu-dm",
          "Device model binary"),
    _spec("kernel_path", ht.TAbsolutePath, "/usr/lib/xen/boot/hvmloader",
          "HVM loader"),
    _bool("use_localtime", False, "Guest clock in local time, not UTC"),
    _int("migration_port", _T_PORT, 8002, "TCP port of xend relocation"),
    _spec("cpu_mask", _T_CPU_MASK, "all", "Physical CPUs the vCPUs may run on"),
)

_CHROOT: Final = _table(
    _spec("init_script", ht.TAbsolutePath, "/ganeti-chroot",
          "Script run inside the chroot to start and stop it"),
)

_FAKE: Final = _table(
    _int("migration_port", _T_PORT, 8102,
         "TCP port the fake driver migrates over"),
    _spec("kernel_path", _T_OPT_PATH, "",
          "Recorded with the instance state; nothing is booted"),
    _spec("kernel_args", _T_STR, "", "Recorded with the instance state"),
)

#: Hypervisor -> parameter name -> declaration.
HV_PARAMETERS: Final[Mapping[str, Mapping[str, ParamSpec]]] = MappingProxyType({
    constants.HT_FAKE: _FAKE,
    constants.HT_KVM: _KVM,
    constants.HT_XEN_PVM: _XEN_PVM,
    constants.HT_XEN_HVM: _XEN_HVM,
    constants.HT_CHROOT: _CHROOT,
})

#: Backend parameters (``beparams``) of Ganeti 2.6+, the same for every
#: hypervisor.  The instance's memory is ``maxmem`` (what it starts with
#: and what every memory check counts); ``minmem`` is the least it may be
#: given (never above ``maxmem``).
BE_PARAMETERS: Final = _table(
    _spec("maxmem", ht.TRange(1, constants.MAX_MEMORY_MIB), 128,
          "Maximum memory (MiB)", "size"),
    _spec("minmem", ht.TRange(1, constants.MAX_MEMORY_MIB), 128,
          "Minimum memory (MiB)", "size"),
    _spec("vcpus", ht.TRange(1, constants.MAX_VCPUS), 1, "Virtual CPUs",
          "int"),
    _bool("auto_balance", True,
          "Count the instance in N+1 memory checks and rebalancing"),
    _bool("always_failover", False,
          "Fail over instead of migrating, even when asked to migrate"),
    _int("spindle_use", ht.TNonNegativeInt, 1,
         "Spindles the instance uses (for instance policies)"),
)

#: The backend parameter of Ganeti before 2.6, still accepted wherever
#: beparams are given: setting it sets both ``maxmem`` and ``minmem``
#: (:func:`upgrade_be_memory`); it is never stored.
BE_MEMORY: Final = "memory"
BE_LEGACY_MEMORY: Final = ParamSpec(BE_MEMORY,
                                    ht.TRange(1, constants.MAX_MEMORY_MIB),
                                    128,
                                    "Memory (MiB): sets maxmem and minmem",
                                    kind="size")

#: Node parameters (``ndparams``; current Ganeti's names and defaults),
#: filled cluster -> node group -> node.  ``exclusive_storage`` is global:
#: it can be set on the cluster (or a group), not on one node.
ND_PARAMETERS: Final = _table(
    _spec("oob_program", _T_OPT_PATH, "",
          "Out-of-band management program; empty for none"),
    _int("spindle_count", ht.TPositiveInt, 1,
         "Spindles of the node's storage (for instance policies)"),
    ParamSpec("exclusive_storage", ht.TBool, False,
              "Give each physical volume to one instance disk only",
              global_only=True, kind="bool"),
    _bool("ovs", False, "Connect the node to an Open vSwitch"),
    _spec("ovs_name", ht.TNonEmptyString, "switch1",
          "Name of the Open vSwitch"),
    _spec("ovs_link", _T_STR, "",
          "Physical interface of the Open vSwitch; empty for none"),
    _int("ssh_port", _T_PORT, 22, "SSH port of the node"),
    _spec("cpu_speed", ht.Check(lambda v: _is_number(v) and v > 0,
                                "a positive number"), 1.0,
          "Relative CPU speed of the node", "float"),
)

#: NIC parameters (``nicparams``).
NIC_PARAMETERS: Final = _table(
    _spec("mode", ht.TElemOf(constants.NIC_VALID_MODES),
          constants.NIC_MODE_BRIDGED, "How the NIC is connected"),
    _spec("link", _T_STR, constants.DEFAULT_BRIDGE,
          "Bridge (bridged mode) or routing table (routed mode)"),
)

_DISK_STRIPES_CHECK: Final = ht.TPositiveInt

#: Disk template -> parameter name -> declaration.
DISK_PARAMETERS: Final[Mapping[str, Mapping[str, ParamSpec]]] = \
    MappingProxyType({
        constants.DT_PLAIN: _table(
            _int("stripes", _DISK_STRIPES_CHECK, 1,
                 "Number of LVM stripes of each volume"),
            _int("stripe_size", _T_POW2, 64, "LVM stripe size (KiB)"),
        ),
        constants.DT_DRBD8: _table(
            _int("resync_rate", ht.TPositiveInt, 60 * 1024,
                 "DRBD resynchronization rate (KiB/s)"),
            _int("data_stripes", _DISK_STRIPES_CHECK, 1,
                 "LVM stripes of the data volume"),
            _int("meta_stripes", _DISK_STRIPES_CHECK, 1,
                 "LVM stripes of the metadata volume"),
            _bool("disk_barriers", True, "Use write barriers on the data disk"),
            _bool("meta_barriers", True,
                  "Use write barriers on the metadata disk"),
            _bool("data_flushes", True, "Flush the data disk's write cache"),
            _bool("meta_flushes", True,
                  "Flush the metadata disk's write cache"),
            _bool("dynamic_resync", False,
                  "Use DRBD's dynamic resync speed controller"),
            _int("c_plan_ahead", ht.TNonNegativeInt, 20,
                 "Dynamic resync: planning horizon (0.1 s)"),
            _int("c_fill_target", ht.TNonNegativeInt, 0,
                 "Dynamic resync: data in flight to aim at (sectors)"),
            _int("c_delay_target", ht.TNonNegativeInt, 1,
                 "Dynamic resync: delay to aim at (0.1 s)"),
            _int("c_max_rate", ht.TPositiveInt, 60 * 1024,
                 "Dynamic resync: highest rate (KiB/s)"),
            _int("c_min_rate", ht.TNonNegativeInt, 4 * 1024,
                 "Dynamic resync: rate kept under application I/O (KiB/s)"),
            _spec("net_custom", _T_STR, "",
                  "Extra drbdsetup options of the connection"),
            _spec("disk_custom", _T_STR, "",
                  "Extra drbdsetup options of the backing disks"),
        ),
        constants.DT_FILE: _table(
            _spec("driver", ht.TElemOf(constants.FILE_DRIVERS),
                  constants.FD_LOOP, "How the file is attached"),
        ),
        constants.DT_DISKLESS: _table(),
    })

#: Check of OS parameter values: they reach a script's environment.
OS_VALUE_CHECK: Final = ht.TSafeString


# --- Value conversion -------------------------------------------------------

_TRUE_WORDS: Final = frozenset(["true", "yes", "on", "1"])
_FALSE_WORDS: Final = frozenset(["false", "no", "off", "0"])
_SIZE_RE: Final = re.compile(
    r"\s*(\d+(?:\.\d+)?)\s*(|m|mb|mib|g|gb|gib|t|tb|tib)\s*", re.IGNORECASE)
_SIZE_FACTORS: Final = {"": 1, "m": 1, "g": 1024, "t": 1024 * 1024}
_INT_RE: Final = re.compile(r"\s*[+-]?\d+\s*")


class _Unconvertible(Exception):
    """A value cannot be turned into the kind asked for."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _to_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if _is_int(v) and v in (0, 1):
        return bool(v)
    if isinstance(v, str):
        word = v.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise _Unconvertible


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _to_float(v: Any) -> float:
    if _is_number(v):
        return float(v)
    if isinstance(v, str):
        with contextlib.suppress(ValueError):
            value = float(v)
            if math.isfinite(value):
                return value
    raise _Unconvertible


def _to_int(v: Any) -> int:
    if _is_int(v):
        return int(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str) and _INT_RE.fullmatch(v):
        return int(v)
    raise _Unconvertible


def parse_size(v: Any) -> int:
    """A size in MiB: an integer, or text like ``512``, ``512M``, ``2G``.

    Fractions round up to whole MiB (``1.5M`` -> 2).  Raises
    :class:`ValueError` for anything else.
    """
    if _is_int(v):
        return int(v)
    if isinstance(v, str):
        match = _SIZE_RE.fullmatch(v)
        if match:
            number, unit = match.groups()
            factor = _SIZE_FACTORS[unit[:1].lower()]
            # Exact arithmetic: no float rounding, no overflow on long input.
            return math.ceil(Fraction(number) * factor)
    raise ValueError(f"not a size: {_show(v)}")


def _to_size(v: Any) -> int:
    try:
        return parse_size(v)
    except ValueError:
        raise _Unconvertible from None


def _to_string(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    raise _Unconvertible


def _to_maybe_string(v: Any) -> str | None:
    if v is None or (isinstance(v, str)
                     and v.strip().lower() == constants.VALUE_NONE):
        return None
    if isinstance(v, str):
        return v
    raise _Unconvertible


_CONVERTERS: Final = {
    "bool": _to_bool,
    "int": _to_int,
    "float": _to_float,
    "size": _to_size,
    "string": _to_string,
    "maybe-string": _to_maybe_string,
}


def value_error(spec: ParamSpec, value: Any,
                component: Component | str = "") -> errors.ParameterError:
    """The error for a bad value: ``<where>: parameter 'x': expected ...``."""
    reason = ht.describe_failure(spec.check, value)
    where = str(component)
    prefix = f"{where}: parameter" if where else "Parameter"
    return errors.ParameterError(f"{prefix} {spec.name!r}: {reason}",
                                 parameter=spec.name, component=where)


def convert_value(spec: ParamSpec, value: Any,
                  component: Component | str = "") -> Any:
    """Turn ``value`` (maybe text from the CLI or RAPI) into the typed value
    the declaration asks for, and check it.

    Booleans accept ``true/false/yes/no/on/off/1/0``; integers accept
    digits; sizes accept MiB integers or text with an ``m``/``g``/``t``
    suffix; ``maybe-string`` turns ``none`` into ``None``.
    """
    try:
        converted = _CONVERTERS[spec.kind](value)
    except _Unconvertible:
        raise value_error(spec, value, component) from None
    if not spec.check(converted):
        raise value_error(spec, value, component)
    return converted


# --- The inheritance rule ---------------------------------------------------

def fill(defaults: Mapping[str, Any] | None,
         *overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge parameter levels: later levels win, absent keys are inherited.

    ``None`` levels are skipped.  The result is a new dictionary; no input
    is modified.
    """
    result: dict[str, Any] = dict(defaults or {})
    for level in overrides:
        if level:
            result.update(level)
    return result


def defaults_of(spec: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """The declared default of every parameter of a table."""
    return {name: s.default for name, s in spec.items()}


def _hv_spec(hv: Any) -> Mapping[str, ParamSpec]:
    try:
        return HV_PARAMETERS[hv]
    except (KeyError, TypeError):
        known = ", ".join(sorted(HV_PARAMETERS))
        raise errors.ParameterError(
            f"Unknown hypervisor {_show(hv)} (known: {known})",
            parameter="hypervisor") from None


def _disk_spec(template: Any) -> Mapping[str, ParamSpec]:
    try:
        return DISK_PARAMETERS[template]
    except (KeyError, TypeError):
        known = ", ".join(sorted(DISK_PARAMETERS))
        raise errors.ParameterError(
            f"Unknown disk template {_show(template)} (known: {known})",
            parameter="disk_template") from None


def hv_defaults(hv: str) -> dict[str, Any]:
    return defaults_of(_hv_spec(hv))


def be_defaults() -> dict[str, Any]:
    return defaults_of(BE_PARAMETERS)


def nic_defaults() -> dict[str, Any]:
    return defaults_of(NIC_PARAMETERS)


def disk_defaults(template: str) -> dict[str, Any]:
    return defaults_of(_disk_spec(template))


def owners(name: Any) -> list[str]:
    """Which components declare ``name`` (for "did you mean" hints)."""
    found: list[str] = []
    if not isinstance(name, str):
        return found
    found.extend(f"hypervisor {hv!r}" for hv, spec in HV_PARAMETERS.items()
                 if name in spec)
    if name in BE_PARAMETERS or name == BE_MEMORY:
        found.append("the backend parameters")
    if name in NIC_PARAMETERS:
        found.append("the NIC parameters")
    if name in ND_PARAMETERS:
        found.append("the node parameters")
    found.extend(f"disk template {dt!r}" for dt, spec in DISK_PARAMETERS.items()
                 if name in spec)
    return found


def _unknown_error(component: Component, name: Any) -> errors.ParameterError:
    msg = component.unknown(name)
    # The component itself does not declare the name, so every owner found
    # is another component: name it to point at the likely mistake.
    elsewhere = owners(name)
    if elsewhere:
        shown = ", ".join(elsewhere[:3]) + (", ..." if len(elsewhere) > 3 else "")
        msg += f" (it belongs to {shown})"
    return errors.ParameterError(msg, parameter=str(name),
                                 component=str(component))


def _global_error(component: Component, name: str,
                  level: str) -> errors.ParameterError:
    at = {"os": "per OS", "instance": "per instance",
          "node": "per node"}.get(level, f"at {level}")
    return errors.ParameterError(
        f"{component}: parameter {name!r} is global: it can be set only "
        f"cluster-wide, not {at}", parameter=name, component=str(component))


def _as_component(component: Component | str) -> Component:
    return component if isinstance(component, Component) else Component(component)


def _need_dict(params: Any, component: Component) -> Mapping[Any, Any]:
    if not isinstance(params, Mapping):
        raise errors.ParameterError(
            f"{component}: {ht.describe_failure(ht.TDict, params)}",
            component=str(component))
    return params


def check_params(params: Any, *, component: Component | str,
                 spec: Mapping[str, ParamSpec], allow_global: bool = True,
                 level: str = "cluster") -> dict[str, Any]:
    """Validate one level of parameters against a table.

    Returns a new dictionary of converted values.  Unknown names, bad
    values and (with ``allow_global=False``) global-only names raise
    :class:`~ganeti.errors.ParameterError`.  ``level`` only words the
    error for global names.
    """
    comp = _as_component(component)
    result: dict[str, Any] = {}
    for name, value in _need_dict(params, comp).items():
        result[name] = _check_one(comp, spec, name, value, allow_global, level)
    return result


def _check_one(comp: Component, spec: Mapping[str, ParamSpec], name: Any,
               value: Any, allow_global: bool, level: str) -> Any:
    decl = spec.get(name) if isinstance(name, str) else None
    if decl is None:
        raise _unknown_error(comp, name)
    if decl.global_only and not allow_global:
        raise _global_error(comp, decl.name, level)
    return convert_value(decl, value, comp)


def update_params(current: Mapping[str, Any] | None, changes: Any, *,
                  component: Component | str, spec: Mapping[str, ParamSpec],
                  allow_global: bool = True,
                  level: str = "cluster") -> dict[str, Any]:
    """Apply ``changes`` to one level of parameters; return the new level.

    A change whose value is ``default`` removes that override (the value is
    inherited again).  Other values are converted and checked; unknown and
    (with ``allow_global=False``) global-only names are refused.  Neither
    input is modified.
    """
    comp = _as_component(component)
    result: dict[str, Any] = dict(current or {})
    for name, value in _need_dict(changes, comp).items():
        if isinstance(value, str) and value == constants.VALUE_DEFAULT:
            decl = spec.get(name) if isinstance(name, str) else None
            if decl is None:
                raise _unknown_error(comp, name)
            result.pop(name, None)
            continue
        result[name] = _check_one(comp, spec, name, value, allow_global, level)
    return result


def strip_globals(hvparams: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of ``hvparams`` without the global-only names."""
    return {k: v for k, v in (hvparams or {}).items() if k not in HVC_GLOBALS}


def find_problems(params: Any, *, component: Component | str,
                  spec: Mapping[str, ParamSpec], allow_global: bool = True,
                  level: str = "cluster") -> list[str]:
    """Like :func:`check_params` but collect every problem (for verify)."""
    comp = _as_component(component)
    if not isinstance(params, Mapping):
        return [f"{comp}: {ht.describe_failure(ht.TDict, params)}"]
    problems: list[str] = []
    for name, value in params.items():
        try:
            _check_one(comp, spec, name, value, allow_global, level)
        except errors.ParameterError as err:
            problems.append(err.message)
    return problems


def normalize(params: Mapping[str, Any],
              spec: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """Convert the values that convert cleanly; keep everything else as is.

    Used when upgrading old or hand-edited configurations: text such as
    ``"true"`` becomes ``True``, while unknown names and bad values stay
    for ``gnt-cluster verify`` to report.
    """
    result = dict(params)
    for name, value in params.items():
        decl = spec.get(name)
        if decl is None:
            continue
        with contextlib.suppress(errors.ParameterError):
            result[name] = convert_value(decl, value)
    return result


# --- Entry points per component ---------------------------------------------

def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise errors.ProgrammerError(f"Invalid parameter level {level!r}")


def check_hv_params(hv: str, params: Any, *,
                    level: Level = "cluster") -> dict[str, Any]:
    """Validate hypervisor parameters set at ``level``; return them converted.

    Global-only names are accepted only at cluster level.
    """
    _check_level(level)
    return check_params(params, component=hv_component(hv), spec=_hv_spec(hv),
                        allow_global=level == "cluster", level=level)


def update_hv_params(hv: str, current: Mapping[str, Any] | None, changes: Any,
                     *, level: Level = "cluster") -> dict[str, Any]:
    _check_level(level)
    return update_params(current, changes, component=hv_component(hv),
                         spec=_hv_spec(hv), allow_global=level == "cluster",
                         level=level)


def upgrade_be_memory(beparams: Any) -> Any:
    """``memory`` (Ganeti before 2.6) becomes ``maxmem`` and ``minmem``.

    As in Ganeti, ``memory`` wins over a ``maxmem``/``minmem`` given with
    it; ``memory=default`` removes both overrides.  The value is checked
    here so that an error names ``memory``, the key the caller wrote.
    Anything but a dictionary is returned as it is (for the checks to
    refuse).
    """
    if not isinstance(beparams, Mapping) or BE_MEMORY not in beparams:
        return beparams
    result = {k: v for k, v in beparams.items() if k != BE_MEMORY}
    value = beparams[BE_MEMORY]
    if not (isinstance(value, str) and value == constants.VALUE_DEFAULT):
        value = convert_value(BE_LEGACY_MEMORY, value, BE_COMPONENT)
    result["maxmem"] = result["minmem"] = value
    return result


def check_be_memory(beparams: Mapping[str, Any]) -> None:
    """Refuse ``minmem`` above ``maxmem`` (where both are given)."""
    maxmem: Any = beparams.get("maxmem")
    minmem: Any = beparams.get("minmem")
    if _is_int(maxmem) and _is_int(minmem) and minmem > maxmem:
        raise errors.ParameterError(
            f"beparams: minmem ({minmem}) must not be greater than maxmem"
            f" ({maxmem})", parameter="minmem", component="beparams")


def check_be_params(params: Any) -> dict[str, Any]:
    """Validate backend parameters (``memory`` accepted as both memories)."""
    result = check_params(upgrade_be_memory(params), component=BE_COMPONENT,
                          spec=BE_PARAMETERS)
    check_be_memory(result)
    return result


def update_be_params(current: Mapping[str, Any] | None,
                     changes: Any) -> dict[str, Any]:
    """:func:`update_params` for beparams (``memory`` sets both memories).

    The result is checked for ``minmem`` above ``maxmem`` at its own
    level; callers check the filled values too (:func:`check_be_memory`).
    """
    result = update_params(current, upgrade_be_memory(changes),
                           component=BE_COMPONENT, spec=BE_PARAMETERS)
    check_be_memory(result)
    return result


def nd_defaults() -> dict[str, Any]:
    return defaults_of(ND_PARAMETERS)


#: Levels where the global node parameters (``exclusive_storage``) may be
#: set: the cluster and, as in Ganeti, a node group.
ND_GLOBAL_LEVELS: Final = frozenset(["cluster", "group"])


def check_nd_params(params: Any, *, level: Level = "cluster") -> dict[str, Any]:
    """Validate node parameters set at ``level`` (cluster, group or node)."""
    return check_params(params, component=ND_COMPONENT, spec=ND_PARAMETERS,
                        allow_global=level in ND_GLOBAL_LEVELS, level=level)


def update_nd_params(current: Mapping[str, Any] | None, changes: Any, *,
                     level: Level = "cluster") -> dict[str, Any]:
    return update_params(current, changes, component=ND_COMPONENT,
                         spec=ND_PARAMETERS,
                         allow_global=level in ND_GLOBAL_LEVELS, level=level)


def check_nic_params(params: Any) -> dict[str, Any]:
    return check_params(params, component=NIC_COMPONENT, spec=NIC_PARAMETERS)


def update_nic_params(current: Mapping[str, Any] | None,
                      changes: Any) -> dict[str, Any]:
    return update_params(current, changes, component=NIC_COMPONENT,
                         spec=NIC_PARAMETERS)


def check_nic(filled_nicparams: Mapping[str, Any], ip: str | None) -> None:
    """Check a NIC's effective parameters together with its IP address.

    A routed NIC needs an IP (the host routes to it); a bridged NIC needs a
    bridge to join.
    """
    mode = filled_nicparams.get("mode")
    if mode == constants.NIC_MODE_ROUTED and ip is None:
        raise errors.ParameterError(
            "nicparams: a routed NIC requires an IP address",
            parameter="ip", component="nicparams")
    if mode == constants.NIC_MODE_BRIDGED and not filled_nicparams.get("link"):
        raise errors.ParameterError(
            "nicparams: a bridged NIC requires a link (the bridge name)",
            parameter="link", component="nicparams")


def check_disk_params(template: str, params: Any) -> dict[str, Any]:
    return check_params(params, component=disk_component(template),
                        spec=_disk_spec(template))


def update_disk_params(template: str, current: Mapping[str, Any] | None,
                       changes: Any) -> dict[str, Any]:
    return update_params(current, changes, component=disk_component(template),
                         spec=_disk_spec(template))


def os_spec(declared_names: Iterable[str]) -> Mapping[str, ParamSpec]:
    """The table of an OS's parameters (names from its ``parameters.list``)."""
    return MappingProxyType({
        name: ParamSpec(name, OS_VALUE_CHECK, "", "Declared by the OS")
        for name in declared_names})


def _check_os_one(comp: Component, spec: Mapping[str, ParamSpec], name: Any,
                  value: Any) -> str:
    decl = spec.get(name) if isinstance(name, str) else None
    if decl is None:
        raise _unknown_error(comp, name)
    # OS parameters are text only: None is refused, not turned into "".
    if not isinstance(value, str) or not decl.check(value):
        raise value_error(decl, value, comp)
    return value


def check_os_params(params: Any, declared_names: Collection[str], *,
                    os_name: str = "") -> dict[str, Any]:
    """Validate OS parameters: declared names, safe-character string values."""
    comp = os_component(os_name)
    spec = os_spec(declared_names)
    return {name: _check_os_one(comp, spec, name, value)
            for name, value in _need_dict(params, comp).items()}


def update_os_params(current: Mapping[str, Any] | None, changes: Any,
                     declared_names: Collection[str], *,
                     os_name: str = "") -> dict[str, Any]:
    """:func:`update_params` for OS parameters (``default`` removes)."""
    comp = os_component(os_name)
    spec = os_spec(declared_names)
    result: dict[str, Any] = dict(current or {})
    for name, value in _need_dict(changes, comp).items():
        if value == constants.VALUE_DEFAULT and name in spec:
            result.pop(name, None)
        else:
            result[name] = _check_os_one(comp, spec, name, value)
    return result


def split_os_name(os_name: str) -> tuple[str, str]:
    """``"debian+squeeze"`` -> ``("debian", "squeeze")``; no variant -> ``""``."""
    base, _, variant = os_name.partition("+")
    return base, variant


def os_levels(os_name: str | None) -> list[str]:
    """The per-OS keys that apply to ``os_name``: base name, then full name."""
    if not os_name:
        return []
    base, variant = split_os_name(os_name)
    return [base, os_name] if variant else [base]
