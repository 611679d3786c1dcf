"""``gnt-debug iallocator``: a dry run of the instance allocator
framework (``OpTestAllocator``).  With ``--dir in`` it prints the request
document the master would give an allocator; with ``--dir out`` it runs
the allocator named by ``-I`` on it and prints the raw answer.  Nothing
changes in the cluster either way."""

from __future__ import annotations

import argparse
from typing import Any, Final

from ganeti import cli, constants, errors, opcodes
from ganeti.utils import text

_MODES = ", ".join(sorted(constants.VALID_IALLOCATOR_MODES))


def _bad(msg: str) -> errors.UsageError:
    return errors.UsageError(msg)


def parse_disks(value: str) -> list[dict[str, Any]]:
    """``--disks 1G,512``: one disk per size (a unit suffix is allowed)."""
    disks = []
    for item in value.split(","):
        try:
            disks.append({"size": text.parse_unit(item.strip()),
                          "mode": constants.DISK_RDWR})
        except errors.GenericError as err:
            raise _bad(f"Invalid disk size '{item}' in --disks: {err}") \
                from None
    return disks


def parse_nics(value: str) -> list[dict[str, Any]]:
    """``--nics MAC/IP/LINK,...``: one NIC each; empty parts are left
    to the defaults (``auto``, none, the cluster's link); ``""`` is one
    NIC of defaults."""
    nics = []
    for item in value.split(","):
        parts = [*item.split("/"), "", "", ""][:3]
        if len(item.split("/")) > 3:
            raise _bad(f"Invalid NIC '{item}' in --nics: use MAC/IP/LINK")
        nic: dict[str, Any] = {"mac": parts[0] or constants.VALUE_AUTO}
        if parts[1]:
            nic["ip"] = parts[1]
        if parts[2]:
            nic["link"] = parts[2]
        nics.append(nic)
    return nics


def _names(value: str | None) -> list[str] | None:
    return [n for n in value.split(",") if n] if value else None


def test_allocator(opts: argparse.Namespace, args: list[str]) -> int:
    """Print the request (``--dir in``) or the allocator's answer."""
    if opts.mode not in constants.VALID_IALLOCATOR_MODES:
        raise _bad(f"Unknown mode '{opts.mode}' (--mode: {_MODES})")
    if opts.direction not in constants.VALID_IALLOCATOR_DIRECTIONS:
        raise _bad(f"Unknown direction '{opts.direction}' (--dir: in, out)")
    allocating = opts.mode in (constants.IALLOCATOR_MODE_ALLOC,
                               constants.IALLOCATOR_MODE_MULTI_ALLOC)
    if opts.direction == constants.IALLOCATOR_DIR_OUT and not opts.iallocator:
        raise _bad("Running an allocator (--dir out) needs its name (-I)")
    values: dict[str, Any] = {
        "direction": opts.direction, "mode": opts.mode, "name": args[0],
        "allocator": opts.iallocator or None,
        "hypervisor": opts.hypervisor,
    }
    if allocating:
        values.update(
            mem_size=text.parse_unit(opts.mem), vcpus=opts.vcpus,
            disks=parse_disks(opts.disks), disk_template=opts.disk_template,
            os=opts.os, nics=parse_nics(opts.nics),
            tags=_names(opts.tags) or [], spindle_use=opts.spindle_use,
            count=opts.count)
    else:
        values.update(
            instances=list(args), relocate_from=_names(opts.relocate_from),
            evac_mode=opts.evac_mode,
            target_groups=_names(opts.target_groups))
    op = opcodes.OpTestAllocator(**values)
    try:
        op.validate()
    except errors.GenericError as err:
        raise _bad(str(err)) from None
    result = cli.submit_opcode(op, opts=opts)
    print(result)
    return errors.EXIT_SUCCESS


OPTIONS: Final = (
    cli.cli_option("--dir", dest="direction", default=constants.IALLOCATOR_DIR_IN,
                   metavar="in|out",
                   help="in: show the request; out: run the allocator"),
    cli.cli_option("-I", "--iallocator", "--algorithm", dest="iallocator",
                   default=None, metavar="NAME",
                   help="Allocator to run (--dir out)"),
    cli.cli_option("-m", "--mode", dest="mode",
                   default=constants.IALLOCATOR_MODE_RELOC, metavar="MODE",
                   help=f"Request type: {_MODES}"),
    cli.cli_option("--mem", dest="mem", default="128", metavar="SIZE",
                   help="Memory of the new instance (allocate)"),
    cli.cli_option("--disks", dest="disks", default="1024", metavar="SIZES",
                   help="Comma-separated disk sizes (allocate)"),
    cli.cli_option("-t", "--disk-template", dest="disk_template",
                   default=constants.DT_DRBD8, metavar="TEMPLATE",
                   help="Disk template (allocate)"),
    cli.cli_option("--nics", dest="nics", default="", metavar="MAC/IP/LINK,...",
                   help="NICs (allocate; default: one NIC)"),
    cli.cli_option("-o", "--os-type", dest="os", default="debian-etch",
                   metavar="OS", help="OS of the new instance (allocate)"),
    cli.cli_option("--vcpus", dest="vcpus", type=int, default=1,
                   metavar="N", help="Virtual CPUs (allocate)"),
    cli.cli_option("--spindle-use", dest="spindle_use", type=int, default=1,
                   metavar="N", help="Spindles used (allocate)"),
    cli.cli_option("--count", dest="count", type=int, default=1, metavar="N",
                   help="Instances to place (multi-allocate)"),
    cli.cli_option("--tags", dest="tags", default="", metavar="TAG,...",
                   help="Tags of the new instance (allocate)"),
    cli.cli_option("-H", "--hypervisor", dest="hypervisor", default=None,
                   metavar="HV", help="Hypervisor (allocate)"),
    cli.cli_option("-r", "--relocate-from", dest="relocate_from",
                   default=None, metavar="NODE,...",
                   help="Nodes to move away from (relocate)"),
    cli.cli_option("--evac-mode", dest="evac_mode",
                   default=constants.NODE_EVAC_ALL,
                   choices=sorted(constants.NODE_EVAC_MODES),
                   help="Instances to move (node-evacuate)"),
    cli.cli_option("--target-groups", dest="target_groups", default=None,
                   metavar="GROUP,...", help="Groups to move to"
                   " (change-group)"),
)

COMMAND: Final = cli.Command(
    test_allocator, cli.args_atleast(1, "instance"), OPTIONS,
    "[--dir in|out] [-I NAME] [--mode MODE] [--mem SIZE] [--disks SIZES]"
    " [-t TEMPLATE] [--nics NICS] [-o OS] [--vcpus N] [--tags TAGS]"
    " [-r NODES] <instance>...",
    "Builds an iallocator request, or runs an iallocator on it")
