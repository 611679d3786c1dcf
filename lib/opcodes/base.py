"""The opcode base class, the registry of opcodes and shared field checks.

An opcode is a typed record (:class:`~ganeti.records.Record`) naming one
operation and its arguments.  Its fields are the single declaration that
parsing (LUXI, RAPI bodies, job files), validation, CLI help and RAPI
documentation all read.  A bad value is always reported as
:class:`~ganeti.errors.OpPrereqError` naming the field: nothing was changed
and the caller has to fix the input.
"""

from __future__ import annotations

import importlib
import math
import re
import typing
from typing import Any, ClassVar, Final, NamedTuple, Self

from ganeti import constants, errors, ht
from ganeti.records import MISSING, Record, field

#: Every concrete opcode class by its OP_ID; filled as classes are defined
#: (see :func:`load_areas`).
OP_MAPPING: dict[str, type[OpCode]] = {}

#: The modules of the package declaring opcodes, ``ganeti.opcodes.<area>``.
AREAS: Final = ("cluster", "group", "instance", "node", "os_backup",
                  "tags_test")


def load_areas() -> dict[str, type[OpCode]]:
    """Import every area module (the package imports them on demand), so
    that :data:`OP_MAPPING` is complete; returns it."""
    for area in AREAS:
        importlib.import_module(f"ganeti.opcodes.{area}")
    return OP_MAPPING


def derive_op_id(class_name: str) -> str:
    """``OpInstanceStartup`` -> ``OP_INSTANCE_STARTUP``."""
    base = class_name.removeprefix("Op")
    words = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", base)
    return "OP_" + "_".join(w.upper() for w in words)


# --- Shared checks -----------------------------------------------------------
# Names of nodes and instances may be short; the logical unit expands them.

TName: Final = ht.THostname
TNameList: Final = ht.TListOf(ht.THostname)
#: Node group names (Ganeti allows more than host names: no slashes or
#: blanks is the rule here).
TGroupName: Final = ht.TRegex(r"[^/\s]+", "a group name (no slashes or blanks)")
TNonEmptyList: Final = ht.Check(lambda v: isinstance(v, list) and len(v) > 0,
                                "a non-empty list")
TFieldList: Final = ht.TAnd(ht.TListOf(ht.TNonEmptyString), TNonEmptyList)
#: A disk or NIC index.
TIndex: Final = ht.TRange(0, constants.MAX_DEVICE_INDEX)
TIndexList: Final = ht.TListOf(TIndex)
#: Seconds to wait (shutdown timeouts): at most a week.
TTimeout: Final = ht.TRange(0, constants.MAX_TIMEOUT)
TPriority: Final = ht.TRange(constants.OP_PRIO_HIGHEST, constants.OP_PRIO_LOWEST)

#: The final job statuses a dependency may name.
JOB_FINAL_STATUSES: Final = (constants.JOB_STATUS_SUCCESS,
                             constants.JOB_STATUS_ERROR,
                             constants.JOB_STATUS_CANCELED)
#: Largest job id a dependency may name (relative ids: down to minus it).
MAX_JOB_ID: Final = 2**53


def _dependency(v: Any) -> bool:
    return (isinstance(v, list) and len(v) == 2
            and isinstance(v[0], int) and not isinstance(v[0], bool)
            and v[0] != 0 and -MAX_JOB_ID <= v[0] <= MAX_JOB_ID
            and isinstance(v[1], list)
            and all(s in JOB_FINAL_STATUSES for s in v[1]))


#: Job dependencies (Ganeti 2.5+): ``[[job id, [final statuses]], ...]``.
#: A negative id is relative, within one SubmitManyJobs: -1 is the job
#: submitted just before this one.  An empty status list accepts any
#: final status.
TDependencies: Final = ht.TListOf(ht.Check(
    _dependency, "[job id (non-zero integer), [final statuses: "
    + ", ".join(JOB_FINAL_STATUSES) + "]]"))

#: Longest source or text of a reason trail entry.
MAX_REASON_LENGTH: Final = 4096


def _reason(v: Any) -> bool:
    return (isinstance(v, list) and len(v) == 3
            and all(isinstance(x, str) and len(x) <= MAX_REASON_LENGTH
                    for x in v[:2])
            and isinstance(v[2], int) and not isinstance(v[2], bool)
            and 0 <= v[2] < 2**63)


#: The reason trail (Ganeti 2.7+): ``[[source, reason, timestamp in ns],
#: ...]``, kept with the opcode as given.
TReasonTrail: Final = ht.TListOf(ht.Check(
    _reason, "[source, reason, timestamp in nanoseconds]"))

#: A parameter dictionary of one level (name -> value); the names are
#: checked later by the component that owns them (ganeti.params).
TParamDict: Final = ht.TDictOf(ht.TNonEmptyString, ht.TAny)
#: Parameters grouped by a key (hypervisor, OS, template) -> params.
TGroupedParams: Final = ht.TDictOf(ht.TNonEmptyString, TParamDict)
THvParamsByHv: Final = ht.TDictOf(ht.TElemOf(constants.HYPER_TYPES), TParamDict)
TDiskParamsByTemplate: Final = ht.TDictOf(ht.TElemOf(constants.DISK_TEMPLATES),
                                          TParamDict)
#: Per-OS hypervisor overrides: os -> hypervisor -> params.
TOsHvp: Final = ht.TDictOf(ht.TNonEmptyString, THvParamsByHv)

#: OS names, optionally with a variant (``debootstrap+squeeze``).  They
#: become directory names on the nodes, so no slashes and no leading dot.
TOsName: Final = ht.TRegex(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(\+[A-Za-z0-9_.-]+)?",
                           "an OS name (name or name+variant)")
#: Iallocator scripts are looked up by name in a search path: no slashes.
TIallocatorName: Final = ht.TRegex(r"[A-Za-z0-9_][A-Za-z0-9_.-]*",
                                   "an iallocator name")
#: LVM volume group names; the empty string disables LVM storage.
TVgName: Final = ht.TRegex(r"[A-Za-z0-9_.+-]*", "a volume group name")
THypervisor: Final = ht.TElemOf(constants.HYPER_TYPES)
TDiskTemplate: Final = ht.TElemOf(constants.DISK_TEMPLATES)
TStorageType: Final = ht.TElemOf(constants.STORAGE_TYPES)
TTagKind: Final = ht.TElemOf(constants.VALID_TAG_TYPES)
TTagList: Final = ht.TListOf(ht.TTag)
TMigrationMode: Final = ht.TElemOf(constants.HT_MIGRATION_MODES)


def _finite_non_negative(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v) and 0 <= v <= constants.MAX_DELAY)


TDuration: Final = ht.Check(
    _finite_non_negative,
    f"a number of seconds from 0 to {constants.MAX_DELAY} (30 days)")


def _no_dotdot(v: Any) -> bool:
    return (isinstance(v, str) and v != "" and "\0" not in v
            and ".." not in v.split("/"))


#: A path below a configured directory (file storage dir, export dir).
TSubPath: Final = ht.Check(lambda v: _no_dotdot(v) and not v.startswith("/"),
                           "a relative path without '..' components")
#: A path given by the user; absolute or relative to a default directory.
TPath: Final = ht.Check(_no_dotdot, "a path without '..' components")


def _regex(v: Any) -> bool:
    if not isinstance(v, str) or v == "":
        return False
    try:
        re.compile(v)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


TRegexPattern: Final = ht.Check(_regex, "a valid regular expression")


def _uid_range(v: Any) -> bool:
    return (isinstance(v, list) and len(v) == 2
            and all(ht.TRange(0, constants.MAX_UID)(x) for x in v)
            and v[0] <= v[1])


#: User-id ranges: ``[[lo, hi], ...]`` with ``lo <= hi``.
TUidPool: Final = ht.TListOf(ht.Check(_uid_range, "a [low, high] uid range"))


def _has_only(allowed: frozenset[str], v: dict[Any, Any]) -> bool:
    return all(isinstance(k, str) and k in allowed for k in v)


_DISK_KEYS: Final = frozenset(["size", "mode", "adopt", "params", "name",
                               "spindles"])


def _disk_size(v: Any) -> bool:
    return ht.TNonNegativeInt(v) and v <= constants.MAX_DISK_SIZE_MIB


#: A disk size or growth in MiB, bounded (1 EiB).
TDiskSize: Final = ht.Check(
    lambda v: _disk_size(v) and v > 0,
    f"a positive size in MiB of at most {constants.MAX_DISK_SIZE_MIB}"
    " (1 EiB)")


def _disk_spec(v: Any) -> bool:
    if not isinstance(v, dict) or not _has_only(_DISK_KEYS, v):
        return False
    if "size" not in v and "adopt" not in v:
        return False
    return (("size" not in v or _disk_size(v["size"]))
            and ("mode" not in v or v["mode"] in constants.DISK_ACCESS_SET)
            and ("adopt" not in v or ht.TNonEmptyString(v["adopt"]))
            and ("params" not in v or TParamDict(v["params"]))
            and ("name" not in v or ht.TMaybeObjectName(v["name"]))
            and ("spindles" not in v or ht.TMaybePositiveInt(v["spindles"])))


#: A new disk: ``{"size": MiB, "mode": "rw"|"ro", "adopt": lv, "params": {},
#: "name": name, "spindles": count}``.
TDiskSpec: Final = ht.Check(
    _disk_spec, "a disk specification (a dictionary with size in MiB, at most"
    f" {constants.MAX_DISK_SIZE_MIB} (1 EiB), or adopt, and optionally mode"
    " rw/ro, params, name and spindles)")
TDiskSpecList: Final = ht.TListOf(TDiskSpec)

_NIC_KEYS: Final = frozenset(["mac", "ip", "mode", "link", "bridge", "name"])
_TNicMac: Final = (ht.TElemOf([constants.VALUE_AUTO, constants.VALUE_GENERATE])
                   | ht.TMacAddress)
_TNicIp: Final = (ht.TNone | ht.TElemOf([constants.VALUE_NONE,
                                         constants.VALUE_AUTO])
                  | ht.TIPAddress)


def _nic_spec(v: Any) -> bool:
    if not isinstance(v, dict) or not _has_only(_NIC_KEYS, v):
        return False
    return (("mac" not in v or _TNicMac(v["mac"]))
            and ("ip" not in v or _TNicIp(v["ip"]))
            and ("mode" not in v or v["mode"] in constants.NIC_VALID_MODES)
            and ("link" not in v or ht.TNonEmptyString(v["link"]))
            and ("bridge" not in v or ht.TNonEmptyString(v["bridge"]))
            and ("name" not in v or ht.TMaybeObjectName(v["name"])))


#: A NIC: ``{"mac": "auto"|"generate"|MAC, "ip": IP|"none"|"auto"|None,
#: "mode": "bridged"|"routed", "link": bridge or routing table}``
#: (``bridge`` is the 2.0 spelling of ``link``).
TNicSpec: Final = ht.Check(
    _nic_spec,
    "a NIC specification (a dictionary of mac, ip, mode, link, name)")
TNicSpecList: Final = ht.TListOf(TNicSpec)


def _device_mod(params: ht.Check) -> ht.Check:
    def ok(v: Any) -> bool:
        if not isinstance(v, list) or len(v) != 2:
            return False
        op, values = v
        if op == constants.DDM_REMOVE:
            return isinstance(values, dict) and not values
        if op == constants.DDM_ADD:
            return params(values)
        return TIndex(op) and TParamDict(values)
    return ht.Check(ok, f"[add, {params.desc}], [remove, {{}}] or "
                        "[index, dictionary of changes]")


#: ``instance modify`` disk changes: ``[["add", {size...}], ["remove", {}],
#: [0, {"mode": "ro"}]]``.
TDiskMods: Final = ht.TListOf(_device_mod(TDiskSpec))
TNicMods: Final = ht.TListOf(_device_mod(TNicSpec))


def _name_mod(v: Any) -> bool:
    return (isinstance(v, list) and len(v) == 2
            and v[0] in (constants.DDM_ADD, constants.DDM_REMOVE)
            and TOsName(v[1]))


#: Additions to / removals from a list of OS names: ``[["add", "lenny"]]``.
TOsListMods: Final = ht.TListOf(ht.Check(_name_mod, "[add|remove, OS name]"))


def _redist_mod(v: Any) -> bool:
    if not isinstance(v, list) or len(v) not in (2, 3):
        return False
    if v[0] not in (constants.DDM_ADD, constants.DDM_REMOVE):
        return False
    if not ht.TAbsolutePath(v[1]) or ".." in v[1].split("/"):
        return False
    return len(v) == 2 or v[2] in constants.REDIST_TARGETS


#: Extra files for redist-conf: ``[["add", "/etc/x", "candidates"],
#: ["remove", "/etc/y"]]``; the target defaults to all nodes.
TRedistMods: Final = ht.TListOf(ht.Check(
    _redist_mod, "[add|remove, absolute path, optional target all|candidates]"))


# --- The base class ----------------------------------------------------------

class OpCode(Record):
    """Base of all opcodes; see the module documentation.

    Subclasses get their ``OP_ID`` derived from the class name unless they
    set it (Ganeti's historic ids where they differ), and register in
    :data:`OP_MAPPING`.  ``SUMMARY_FIELD`` names the field shown by
    :meth:`summary` (``gnt-job list``).
    """

    ERROR = errors.OpPrereqError
    OP_ID: ClassVar[str]
    SUMMARY_FIELD: ClassVar[str | None] = None

    dry_run: bool = field(default=False, check=ht.TBool,
                          doc="Only check the prerequisites, change nothing")
    debug_level: int = field(default=0,
                             check=ht.TRange(0, constants.MAX_DEBUG_LEVEL),
                             doc="Verbosity of debugging output (0 is off)")
    priority: int = field(default=constants.OP_PRIO_DEFAULT, check=TPriority,
                          doc="Scheduling priority, -20 (first) to 19 (last)")
    comment: str | None = field(default=None, check=ht.TString,
                                doc="Free-form note kept with the job")
    depends: list[list[Any]] | None = field(
        default=None, check=TDependencies,
        doc="Jobs to wait for: [[job id, [final statuses]], ...]; a negative"
            " id counts back within one submission of several jobs")
    reason: list[list[Any]] = field(
        default=[], check=TReasonTrail,
        doc="Reason trail: [[source, reason, timestamp in ns], ...]")

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "OP_ID" not in cls.__dict__:
            cls.OP_ID = derive_op_id(cls.__name__)
        if not cls.OP_ID.startswith("OP_"):
            raise errors.ProgrammerError(f"{cls.__name__}: OP_ID must start "
                                         f"with 'OP_', not {cls.OP_ID!r}")
        if register:
            other = OP_MAPPING.get(cls.OP_ID)
            if other is not None and (other.__module__, other.__qualname__) \
                    != (cls.__module__, cls.__qualname__):
                raise errors.ProgrammerError(
                    f"Duplicate OP_ID {cls.OP_ID}: {other.__name__} and "
                    f"{cls.__name__}")
            OP_MAPPING[cls.OP_ID] = cls

    # --- codec ------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Encode to JSON-able data, with ``OP_ID`` saying which opcode."""
        return {"OP_ID": self.OP_ID, **super().to_dict()}

    @classmethod
    def _decode(cls, data: Any) -> Self:
        if isinstance(data, dict) and "OP_ID" in data:
            if data["OP_ID"] != cls.OP_ID:
                raise errors.OpPrereqError(
                    f"{cls.__name__}: OP_ID is {data['OP_ID']!r:.60}, "
                    f"expected {cls.OP_ID!r}")
            data = {k: v for k, v in data.items() if k != "OP_ID"}
        if isinstance(data, dict):
            # Named here (quoted, one line) rather than by the generic codec:
            # keys come from clients and may hold any character.
            unknown = sorted(repr(k)[:40] for k in data if k not in cls.fields())
            if unknown:
                raise errors.OpPrereqError(
                    f"{cls.__name__}: unknown field(s): {', '.join(unknown)}")
        op = super()._decode(data)
        op.check_consistency()
        return op

    @classmethod
    def load(cls, data: Any) -> OpCode:
        """Build the opcode named by ``data["OP_ID"]`` (a job file, LUXI).

        Called on a subclass, also requires the opcode to be of that class.
        """
        if not isinstance(data, dict):
            raise errors.OpPrereqError(f"Invalid opcode: expected a dictionary,"
                                       f" got {type(data).__name__}")
        if "OP_ID" not in data:
            raise errors.OpPrereqError("Invalid opcode: missing OP_ID")
        op_id = data["OP_ID"]
        op_class = OP_MAPPING.get(op_id) if isinstance(op_id, str) else None
        if op_class is None and isinstance(op_id, str):
            op_class = load_areas().get(op_id)
        if op_class is None:
            raise errors.OpPrereqError(
                f"Invalid opcode: unknown OP_ID {op_id!r:.60}")
        if not issubclass(op_class, cls):
            raise errors.OpPrereqError(f"Invalid opcode: {op_id} is not a "
                                       f"{cls.__name__}")
        return op_class.from_dict(data)

    def validate_all(self) -> None:
        """Check every field and their consistency (an op built in code).

        Values are checked as given (not re-encoded first), so a string
        where a list belongs is an error rather than a list of characters.
        """
        for name, spec in self.fields().items():
            setattr(self, name, self._convert(spec, getattr(self, name)))
        self.check_consistency()

    def check_consistency(self) -> None:
        """Checks between fields; raise :class:`OpPrereqError`.

        Runs after every field passed its own check.  Only what is known
        from the opcode alone belongs here; the cluster's state is the
        logical unit's business.
        """

    # --- presentation -------------------------------------------------------

    def summary(self) -> str:
        """``INSTANCE_STARTUP(inst1)``: the OP_ID without ``OP_``, and the
        value of :attr:`SUMMARY_FIELD` if there is one and it is set."""
        text = self.OP_ID.removeprefix("OP_")
        if self.SUMMARY_FIELD is None:
            return text
        value = getattr(self, self.SUMMARY_FIELD, None)
        if value is None:
            return text
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        return f"{text}({value})"

    def reject(self, field_name: str, message: str) -> typing.NoReturn:
        """Raise :class:`OpPrereqError` about ``field_name`` (for
        :meth:`check_consistency`)."""
        raise errors.OpPrereqError(
            f"{type(self).__name__}.{field_name}: {message}")


#: Fields every opcode has (the job machinery's, not the operation's).
COMMON_FIELDS: Final = frozenset(OpCode.fields())


class _Required:
    def __repr__(self) -> str:
        return "<required>"


#: The ``default`` of a required field in :func:`describe`.
REQUIRED: Final = _Required()


class FieldDoc(NamedTuple):
    """One row of an opcode's documentation."""

    name: str
    type: str
    default: Any
    doc: str


def describe(cls: type[OpCode], common: bool = True) -> list[FieldDoc]:
    """The field table of an opcode, for CLI help and RAPI documentation.

    ``type`` is what the field's check expects (or its type when there is
    no check); ``default`` is :data:`REQUIRED` for required fields.
    """
    rows = []
    for name, spec in cls.fields().items():
        if not common and name in COMMON_FIELDS:
            continue
        desc = spec.check.desc if spec.check is not None else spec.conv.desc
        if type(None) in typing.get_args(spec.type) and \
                not desc.startswith("None"):
            desc = f"None or {desc}"
        if spec.required:
            default: Any = REQUIRED
        elif spec.default is not MISSING:
            default = spec.default
        else:
            default = spec.factory()
        rows.append(FieldDoc(name, desc, default, spec.doc))
    return rows
