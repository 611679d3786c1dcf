"""Hypervisor drivers: one explicit map from name to driver, loaded lazily.

:data:`DRIVERS` names the module and class of every hypervisor Ganeti 2.1
knows.  A driver module is imported the first time its hypervisor is asked
for, so a node that only runs the fake hypervisor never imports the kvm
code.  A name whose module is not part of this build (xen-pvm and
xen-hvm, until their driver is added) gives a clear "not available in this
build" error instead of an import error; shipping the module is all it
takes to make the name work.

The contract of a driver is :class:`~ganeti.hypervisor.base.BaseHypervisor`.
"""

from __future__ import annotations

import importlib
from typing import Any, Final

from ganeti import constants, errors
from ganeti.hypervisor.base import BaseHypervisor

#: Hypervisor name -> (module, class) of its driver.
DRIVERS: Final[dict[str, tuple[str, str]]] = {
    constants.HT_FAKE: ("ganeti.hypervisor.fake", "FakeHypervisor"),
    constants.HT_KVM: ("ganeti.hypervisor.kvm", "KvmHypervisor"),
    constants.HT_XEN_PVM: ("ganeti.hypervisor.xen", "XenPvmHypervisor"),
    constants.HT_XEN_HVM: ("ganeti.hypervisor.xen", "XenHvmHypervisor"),
    constants.HT_CHROOT: ("ganeti.hypervisor.chroot", "ChrootHypervisor"),
}

#: Every known hypervisor name, sorted.
HYPERVISORS: Final[tuple[str, ...]] = tuple(sorted(DRIVERS))


def _unknown(name: Any) -> errors.ParameterError:
    return errors.ParameterError(
        f"Unknown hypervisor {name!r:.60} (known: {', '.join(HYPERVISORS)})",
        parameter="hypervisor")


def _unavailable(name: str) -> errors.OpPrereqError:
    return errors.OpPrereqError(
        f"Hypervisor {name} is not available in this build",
        errors.ErrorCode.ENVIRON, hypervisor=name)


def get_hypervisor_class(name: str) -> type[BaseHypervisor]:
    """The driver class of ``name`` (for master-side parameter checks).

    Unknown names raise :class:`~ganeti.errors.ParameterError`; known
    names whose driver is not in this build raise
    :class:`~ganeti.errors.OpPrereqError` (code ``environment_error``).
    """
    if not isinstance(name, str) or name not in DRIVERS:
        raise _unknown(name)
    module_name, class_name = DRIVERS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        # Only the driver module itself may be missing; a missing import
        # inside a present driver is a real error and must surface.
        if err.name != module_name:
            raise
        raise _unavailable(name) from None
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, BaseHypervisor)
            and name == cls.NAME):
        raise errors.ProgrammerError(
            f"{module_name}.{class_name} is not the driver of {name}")
    return cls


def get_hypervisor(name: str, **options: Any) -> BaseHypervisor:
    """A driver instance for hypervisor ``name``.

    ``options`` go to the driver's constructor (the fake takes
    ``state_dir``; every driver takes ``now``, ``monotonic``, ``sleep``).
    """
    return get_hypervisor_class(name)(**options)


def is_available(name: str) -> bool:
    """Whether ``name``'s driver is part of this build."""
    try:
        get_hypervisor_class(name)
    except errors.OpPrereqError:
        return False
    return True


def available_hypervisors() -> list[str]:
    """The known hypervisors whose driver is part of this build."""
    return [name for name in HYPERVISORS if is_available(name)]
