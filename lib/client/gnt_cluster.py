"""``gnt-cluster``: cluster-wide administration (see gnt-cluster(8)).

Subcommands are rows of :data:`COMMANDS`; each function takes the parsed
options and the positional arguments and returns an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ganeti import cli, constants, errors, pathutils, uidpool
from ganeti.client import collect_commands
from ganeti.client.ipolicy_opts import format_ipolicy

#: Version of the instance export format (Ganeti 2.1 exports are version 0).
EXPORT_VERSION: Final = 0


def version_info() -> list[tuple[str, object]]:
    """The versions ``gnt-cluster version`` reports, in Ganeti's order.

    These are the versions of this installation; the OS API version is the
    newest one it speaks.
    """
    return [
        ("Software version", constants.RELEASE_VERSION),
        ("Internode protocol", constants.PROTOCOL_VERSION),
        ("Configuration format", constants.CONFIG_VERSION),
        ("OS api version", max(constants.OS_API_VERSIONS)),
        ("Export interface", EXPORT_VERSION),
    ]


def show_version(opts: argparse.Namespace, args: list[str]) -> int:
    """Print the software and interface versions."""
    for label, value in version_info():
        cli.to_stdout(f"{label}: {value}")
    return 0


def get_master_name() -> str:
    """The master node's name, read locally as Ganeti does (no master daemon
    needed): the ``master_node`` ssconf file, else the configuration."""
    paths = pathutils.get()
    try:
        with open(paths.ssconf_file("master_node"), encoding="utf-8") as f:
            name = f.read().strip()
        if name:
            return name
    except OSError:
        pass
    if not os.path.exists(paths.cluster_conf_file):
        raise errors.NotClusterError(
            "Cluster configuration not found: this node is not part of a"
            " cluster")
    from ganeti import config  # deferred: only getmaster reads the config

    return str(config.ConfigWriter(offline=True).get_cluster().master_node)


def show_master(opts: argparse.Namespace, args: list[str]) -> int:
    """Print the name of the master node."""
    cli.to_stdout(get_master_name())
    return errors.EXIT_SUCCESS


def _format_ts(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "N/A"
    return cli.format_timestamp([int(value), int((value % 1) * 1000000)])


def _dict_lines(data: Mapping[str, Any], indent: str) -> list[str]:
    """``- group:`` blocks of ``key: value`` lines (parameter dicts)."""
    lines = []
    for group in sorted(data):
        lines.append(f"{indent}- {group}:")
        values = data[group]
        if isinstance(values, Mapping):
            for key in sorted(values):
                lines.append(f"{indent}    {key}: {_value(values[key])}")
        else:
            lines.append(f"{indent}    {_value(values)}")
    return lines


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value)
    return str(value)


def format_cluster_info(info: Mapping[str, Any]) -> list[str]:
    """The ``gnt-cluster info`` text (Ganeti 2.1's layout) of the
    QueryClusterInfo dictionary."""
    arch = info.get("architecture") or ["?", "?"]
    uid_pool = uidpool.format_pool(info.get("uid_pool") or [])
    lines = [
        f"Cluster name: {info.get('name')}",
        f"Cluster UUID: {info.get('uuid')}",
        f"Creation time: {_format_ts(info.get('ctime'))}",
        f"Modification time: {_format_ts(info.get('mtime'))}",
        f"Master node: {info.get('master')}",
        f"Architecture (this node): {arch[0]} ({arch[1]})",
        f"Tags: {', '.join(sorted(info.get('tags') or [])) or '(none)'}",
        f"Default hypervisor: {info.get('default_hypervisor')}",
        f"Enabled hypervisors: {_value(info.get('enabled_hypervisors'))}",
        "Hypervisor parameters:",
        *_dict_lines(info.get("hvparams") or {}, "  "),
        "OS specific hypervisor parameters:",
        *_dict_lines(info.get("os_hvp") or {}, "  "),
        "Cluster parameters:",
        f"  - candidate pool size: {info.get('candidate_pool_size')}",
        f"  - master netdev: {_value(info.get('master_netdev'))}",
        f"  - lvm volume group: {_value(info.get('volume_group_name'))}",
        f"  - file storage path: {_value(info.get('file_storage_dir'))}",
        "  - maintenance of node health: "
        f"{info.get('maintain_node_health')}",
        f"  - default instance allocator: "
        f"{_value(info.get('default_iallocator'))}",
        f"  - uid pool: {uid_pool}",
        "Default instance parameters:",
        *_dict_lines(info.get("beparams") or {}, "  "),
        "Default nic parameters:",
        *_dict_lines(info.get("nicparams") or {}, "  "),
        "Default node parameters:",
        *(f"  {key}: {_value(value)}"
          for key, value in sorted((info.get("ndparams") or {}).items())),
    ]
    if info.get("ipolicy"):
        lines += ["Instance policy - limits for instances:",
                  *format_ipolicy(info["ipolicy"], "  ")]
    return lines


def show_cluster_config(opts: argparse.Namespace, args: list[str]) -> int:
    """Print the cluster's configuration (``gnt-cluster info``)."""
    for line in format_cluster_info(cli.get_client().query_cluster_info()):
        cli.to_stdout(line)
    return errors.EXIT_SUCCESS


QUEUE_COMMANDS: Final = ("drain", "undrain", "info")


def queue_ops(opts: argparse.Namespace, args: list[str]) -> int:
    """``queue drain|undrain|info``: the job queue's drain flag."""
    command = args[0]
    if command not in QUEUE_COMMANDS:
        cli.to_stderr(f"Error: unknown queue command '{command}' (expected"
                      f" one of {', '.join(QUEUE_COMMANDS)})")
        return errors.EXIT_FAILURE
    cl = cli.get_client()
    if command == "drain":
        cl.set_queue_drain_flag(True)
    elif command == "undrain":
        cl.set_queue_drain_flag(False)
    else:
        (drained,) = cl.query_config_values(["drain_flag"])
        cli.to_stdout("The drain flag is " + ("set" if drained else "unset"))
    return errors.EXIT_SUCCESS


WATCHER_COMMANDS: Final = ("pause", "continue", "info")


def _pause_text(until: Any) -> str:
    if until is None:
        return "The watcher is not paused."
    return f"The watcher is paused until {time.ctime(float(until))}."


def watcher_ops(opts: argparse.Namespace, args: list[str]) -> int:
    """``watcher pause DURATION|continue|info``: the watcher's pause file
    (written by the master daemon under its data dir)."""
    command, rest = args[0], args[1:]
    if command not in WATCHER_COMMANDS:
        raise errors.UsageError(
            f"Unknown watcher command '{command}' (expected one of"
            f" {', '.join(WATCHER_COMMANDS)})")
    if command == "pause":
        if len(rest) != 1:
            raise errors.UsageError("watcher pause needs one DURATION"
                                    " (seconds, or 30m, 2h, 1d, 1w)")
        until = cli.get_client().call("SetWatcherPause",
                                      time.time() + cli.parse_timespec(rest[0]))
        cli.to_stdout(_pause_text(until))
        return errors.EXIT_SUCCESS
    if rest:
        raise errors.UsageError(f"watcher {command} takes no arguments")
    if command == "continue":
        cli.get_client().call("SetWatcherPause", None)
        cli.to_stdout("The watcher is no longer paused.")
        return errors.EXIT_SUCCESS
    (until,) = cli.get_client().query_config_values(["watcher_pause"])
    if until is not None and until <= time.time():
        until = None  # an expired pause file no longer pauses
    cli.to_stdout(_pause_text(until))
    return errors.EXIT_SUCCESS


COMMANDS: Final[dict[str, cli.Command]] = {
    "getmaster": cli.Command(
        show_master, cli.ARGS_NONE, (), "",
        "Show the master node name"),
    "info": cli.Command(
        show_cluster_config, cli.ARGS_NONE, (), "",
        "Show cluster configuration"),
    "queue": cli.Command(
        queue_ops, cli.ArgSpec(1, 1, "command", choices=QUEUE_COMMANDS), (),
        "drain|undrain|info",
        "Change or query the job queue's drain flag"),
    "watcher": cli.Command(
        watcher_ops, cli.ArgSpec(1, 2, "command"), (),
        "{pause <duration>|continue|info}",
        "Pause the watcher for a duration, let it continue, or show"
        " whether it is paused"),
    "version": cli.Command(
        show_version, cli.ARGS_NONE, (), "",
        "Show the software version and the versions of the interfaces"
        " (node protocol, configuration, OS API, export format)"),
}


def commands() -> Mapping[str, cli.Command]:
    """This module's subcommands plus those of the ``cluster_*`` modules
    (imported when one of their subcommands is looked up)."""
    return collect_commands("cluster_", base=COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gnt-cluster`` launcher."""
    return cli.GenericMain(commands(), sys.argv if argv is None else argv)
