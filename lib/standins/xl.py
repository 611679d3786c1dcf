"""A stateful stand-in for Xen's ``xl``, for tests and local clusters only.

Xen cannot run on this project's build and test machines, so the Xen
drivers (:mod:`ganeti.hypervisor.xen`) meet a program that answers the
subcommands they send, at the process boundary, in xl's documented
output formats (xl(1); the transcripts in ``test/data/xen/``):
``create``, ``shutdown``, ``destroy``, ``reboot``, ``pause``,
``unpause``, ``rename``, ``list`` (table and ``-l`` JSON), ``info``,
``console``, ``migrate`` and ``migrate-receive``.  Domains are entries
of a state file (name, domain id, type, memory, vCPUs, state flags, the
parsed configuration); no guest runs.  Every invocation's argv is
appended to ``argv.log`` beside the state.

What it checks, as xl and libxl would: the configuration parses, the
name is free, the memory fits (``xl info``'s free memory), a PV
domain's kernel (or bootloader) and ramdisk exist, every disk target
exists, every bridged vif's bridge exists in the node's
``/sys/class/net`` (relocated under the node's root).  Its error
messages are its own (one line on stderr, exit status 1), not copies
of libxl's.

Migration follows xl's shape: ``migrate`` runs the ``-s`` transport
command through ``sh`` with ``<host> xl migrate-receive`` appended,
renames the domain ``<name>--migratedaway`` while it sends it (one JSON
line: the domain and its configuration), and drops it when the
receiver answers ``ok``; ``migrate-receive`` creates
``<name>--incoming``, then renames it to ``<name>``.

Selection (:func:`command_for_node`): only under a ``GANETI_ROOTDIR``
root with ``GANETI_XL_STANDIN=1``; the state lives in the node's
``<run dir>/xl-standin``.  Tests arm a failure of the next command with
:func:`arm_failure` (as the fake hypervisor can be told to fail).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any, Final

from ganeti import pathutils

#: Environment variable that, under a ``GANETI_ROOTDIR`` root, selects it.
ENABLE_ENV: Final = "GANETI_XL_STANDIN"
SUBDIR: Final = "xl-standin"
STATE_FILE: Final = "state.json"
ARGV_LOG: Final = "argv.log"
#: The node the stand-in pretends to be (MiB, CPUs).
NODE_MEMORY: Final = 16384
DOM0_MEMORY: Final = 1024
NODE_CPUS: Final = 4
DOM0_NAME: Final = "Domain-0"


class XlFailure(Exception):
    """A command failure: the message goes to stderr, the status is 1."""


def state_dir(paths: pathutils.Paths) -> str:
    return os.path.join(paths.run_dir, SUBDIR)


def command_for_node(paths: pathutils.Paths) -> list[str] | None:
    """The stand-in's argv when this node may and wants to use it, else
    None (the real xl)."""
    if not paths.root or os.environ.get(ENABLE_ENV) != "1":
        return None
    # Through env(1), so that the command also works where only the argv
    # travels (the migration receiver, the console command).
    package_root = os.path.dirname(os.path.dirname(pathutils.__file__))
    return ["env", f"PYTHONPATH={package_root}", sys.executable, "-m",
            __name__]


# --- state --------------------------------------------------------------------

def _empty() -> dict[str, Any]:
    return {"next_domid": 1, "domains": {}, "fail": {}, "ignore_shutdown": []}


@contextlib.contextmanager
def locked_state(directory: str) -> Iterator[dict[str, Any]]:
    """The state, locked; written back when the block ends normally."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = os.path.join(directory, STATE_FILE)
        try:
            with open(path, encoding="utf-8") as handle:
                state = json.load(handle)
        except FileNotFoundError:
            state = _empty()
        yield state
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)


def arm_failure(directory: str, command: str, message: str,
                leave_domain: bool = False) -> None:
    """Make the next ``command`` fail with ``message`` (``create`` with
    ``leave_domain`` fails after the domain exists, as a libxl failure
    half-way through a creation does)."""
    with locked_state(directory) as state:
        state["fail"][command] = {"message": message,
                                  "leave_domain": leave_domain}


def ignore_shutdown(directory: str, name: str) -> None:
    """Make domain ``name``'s guest ignore shutdown requests."""
    with locked_state(directory) as state:
        state["ignore_shutdown"].append(name)


def domains(directory: str) -> dict[str, Any]:
    with locked_state(directory) as state:
        return dict(state["domains"])


def recorded_argv(directory: str) -> list[list[str]]:
    try:
        with open(os.path.join(directory, ARGV_LOG), encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


# --- helpers --------------------------------------------------------------------

def _parse_cfg(path: str) -> tuple[dict[str, Any], str]:
    from ganeti.hypervisor.xen import xlcfg

    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        raise XlFailure(f"Failed to read config file: {path}:"
                        f" {err.strerror}") from None
    try:
        return dict(xlcfg.parse(text)), text
    except xlcfg.XlCfgError as err:
        raise XlFailure(f"Failed to parse config file {path}: {err}") from None


def _free_memory(state: dict[str, Any]) -> int:
    used = sum(int(d["memory"]) for d in state["domains"].values())
    return NODE_MEMORY - DOM0_MEMORY - used


def _check_files(config: dict[str, Any]) -> None:
    paths = pathutils.get()
    if config.get("type", "pv") == "pv":
        if config.get("bootloader"):
            loader = str(config["bootloader"])
            if not os.path.isfile(loader):
                raise XlFailure(f"bootloader {loader} not found")
        else:
            for key in ("kernel", "ramdisk"):
                value = config.get(key)
                if key == "kernel" and not value:
                    raise XlFailure("neither kernel nor bootloader given")
                if value and not os.path.isfile(str(value)):
                    raise XlFailure(f"cannot load {key} {value}: No such file"
                                    " or directory")
    else:
        for key in ("firmware_override", "device_model_override"):
            value = config.get(key)
            if value and not os.path.isfile(str(value)):
                raise XlFailure(f"{key} {value}: No such file or directory")
    for entry in config.get("disk", []):
        target = str(entry).split(",", 1)[0]
        for prefix in ("phy:", "file:", "tap:aio:"):
            target = target.removeprefix(prefix)
        if not os.path.exists(target):
            raise XlFailure(f"disk {target}: No such file or directory")
    for entry in config.get("vif", []):
        settings = dict(part.split("=", 1) for part in str(entry).split(",")
                        if "=" in part)
        bridge = settings.get("bridge")
        if bridge and not os.path.isdir(paths.under(
                f"/sys/class/net/{bridge}/bridge")):
            raise XlFailure(f"vif-bridge: could not find bridge device"
                            f" {bridge}")


def _take_failure(state: dict[str, Any], command: str) -> dict[str, Any] | None:
    failure: dict[str, Any] | None = state["fail"].pop(command, None)
    return failure


def _find(state: dict[str, Any], ident: str) -> str:
    if ident in state["domains"]:
        return ident
    for name, dom in state["domains"].items():
        if str(dom["domid"]) == ident:
            return str(name)
    raise XlFailure(f"invalid domain identifier: {ident}")


def _new_domain(state: dict[str, Any], name: str, config: dict[str, Any],
                text: str, flags: str) -> dict[str, Any]:
    memory = int(config.get("memory", 128))
    if memory > _free_memory(state):
        raise XlFailure(f"failed to free memory for the domain: {memory} MiB"
                        f" wanted, {_free_memory(state)} MiB free")
    domain = {"domid": state["next_domid"], "type": str(config.get("type", "pv")),
              "memory": memory, "vcpus": int(config.get("vcpus", 1)),
              "uuid": str(config.get("uuid", "")), "flags": flags,
              "config": config, "config_text": text, "created": time.time()}
    state["next_domid"] += 1
    state["domains"][name] = domain
    return domain


# --- subcommands ------------------------------------------------------------------

def _split(args: Sequence[str], flags: str, valued: str = ""
           ) -> tuple[dict[str, str], list[str]]:
    opts: dict[str, str] = {}
    rest: list[str] = []
    items = list(args)
    while items:
        arg = items.pop(0)
        if arg.startswith("-") and len(arg) > 1 and arg != "--debug":
            letter = arg[1:]
            if letter in valued:
                if not items:
                    raise XlFailure(f"option {arg} needs a value")
                opts[letter] = items.pop(0)
            elif letter in flags:
                opts[letter] = ""
            else:
                raise XlFailure(f"unknown option {arg}")
        elif arg == "--debug":
            opts["debug"] = ""
        else:
            rest.append(arg)
    return opts, rest


def cmd_create(state: dict[str, Any], args: Sequence[str]) -> str:
    opts, rest = _split(args, "pqF")
    if len(rest) != 1:
        raise XlFailure("usage: xl create <configfile> [-p]")
    config, text = _parse_cfg(rest[0])
    name = str(config.get("name") or "")
    if not name:
        raise XlFailure("domain configuration has no name")
    if name in state["domains"]:
        raise XlFailure(f"domain with name {name} already exists")
    failure = _take_failure(state, "create")
    if failure and not failure["leave_domain"]:
        raise XlFailure(failure["message"])
    _check_files(config)
    domain = _new_domain(state, name, config, text, "p" if "p" in opts else "r")
    if failure:
        raise XlFailure(failure["message"])
    return f"Parsing config from {rest[0]}\n" if domain else ""


def cmd_shutdown(state: dict[str, Any], args: Sequence[str]) -> str:
    _, rest = _split(args, "wFa")
    for ident in rest:
        name = _find(state, ident)
        if name not in state["ignore_shutdown"]:
            del state["domains"][name]
    return ""


def cmd_destroy(state: dict[str, Any], args: Sequence[str]) -> str:
    _, rest = _split(args, "f")
    if len(rest) != 1:
        raise XlFailure("usage: xl destroy <domain>")
    del state["domains"][_find(state, rest[0])]
    return ""


def cmd_reboot(state: dict[str, Any], args: Sequence[str]) -> str:
    _, rest = _split(args, "wFa")
    for ident in rest:
        domain = state["domains"][_find(state, ident)]
        domain["domid"] = state["next_domid"]
        state["next_domid"] += 1
        domain["created"] = time.time()
    return ""


def _set_paused(state: dict[str, Any], args: Sequence[str], paused: bool) -> str:
    if len(args) != 1:
        raise XlFailure("usage: xl pause|unpause <domain>")
    domain = state["domains"][_find(state, args[0])]
    domain["flags"] = "p" if paused else "r"
    return ""


def cmd_rename(state: dict[str, Any], args: Sequence[str]) -> str:
    if len(args) != 2:
        raise XlFailure("usage: xl rename <domain> <new-name>")
    old = _find(state, args[0])
    if args[1] in state["domains"]:
        raise XlFailure(f"domain with name {args[1]} already exists")
    state["domains"][args[1]] = state["domains"].pop(old)
    return ""


def _flags(flags: str) -> str:
    return "".join(c if c in flags else "-" for c in "rbpscd")


def cmd_list(state: dict[str, Any], args: Sequence[str]) -> str:
    opts, rest = _split(args, "lvZcn")
    names = [_find(state, ident) for ident in rest] or sorted(
        state["domains"], key=lambda n: state["domains"][n]["domid"])
    if "l" in opts:
        entries = [] if rest else [{"domid": 0, "config": {
            "c_info": {"type": "pv", "name": DOM0_NAME},
            "b_info": {"max_vcpus": NODE_CPUS,
                       "target_memkb": DOM0_MEMORY * 1024}}}]
        for name in names:
            dom = state["domains"][name]
            entries.append({"domid": dom["domid"], "config": {
                "c_info": {"type": dom["type"], "name": name,
                           "uuid": dom["uuid"]},
                "b_info": {"max_vcpus": dom["vcpus"],
                           "max_memkb": dom["memory"] * 1024,
                           "target_memkb": dom["memory"] * 1024}}})
        return json.dumps(entries, indent=4) + "\n"
    lines = [f"{'Name':<40}{'ID':>5}{'Mem':>6}{'VCPUs':>6}{'State':>11}"
             f"{'Time(s)':>10}"]
    if not rest:
        lines.append(f"{DOM0_NAME:<40}{0:>5}{DOM0_MEMORY:>6}{NODE_CPUS:>6}"
                     f"{'r-----':>11}{12.5:>10.1f}")
    for name in names:
        dom = state["domains"][name]
        cpu = max(0.0, time.time() - float(dom["created"])) / 10
        lines.append(f"{name:<40}{dom['domid']:>5}{dom['memory']:>6}"
                     f"{dom['vcpus']:>6}{_flags(dom['flags']):>11}{cpu:>10.1f}")
    return "\n".join(lines) + "\n"


def cmd_info(state: dict[str, Any], args: Sequence[str]) -> str:
    del args
    fields = [("host", pathutils.hostname()), ("release", "stand-in"),
              ("machine", "x86_64"), ("nr_cpus", NODE_CPUS),
              ("max_cpu_id", NODE_CPUS - 1), ("nr_nodes", 1),
              ("cores_per_socket", NODE_CPUS // 2), ("threads_per_core", 1),
              ("virt_caps", "pv hvm hap shadow"),
              ("total_memory", NODE_MEMORY),
              ("free_memory", _free_memory(state)),
              ("xen_major", 4), ("xen_minor", 17),
              ("xen_version", "4.17.0-standin"),
              ("xen_scheduler", "credit2"), ("xend_config_format", 4)]
    return "".join(f"{key:<23}: {value}\n" for key, value in fields)


def cmd_console(state: dict[str, Any], args: Sequence[str]) -> str:
    _, rest = _split(args, "", "tn")
    if len(rest) != 1:
        raise XlFailure("usage: xl console <domain>")
    name = _find(state, rest[0])
    return f"[xl stand-in: {name} has no guest; nothing to attach to]\n"


def cmd_migrate(directory: str, args: Sequence[str]) -> str:
    opts, rest = _split(args, "ep", "sC")
    if len(rest) != 2:
        raise XlFailure("usage: xl migrate [options] <domain> <host>")
    ident, host = rest
    with locked_state(directory) as state:
        name = _find(state, ident)
        failure = _take_failure(state, "migrate")
        if failure:
            raise XlFailure(failure["message"])
        domain = dict(state["domains"][name])
        if "C" in opts:
            config, text = _parse_cfg(opts["C"])
            domain.update(config=config, config_text=text)
        away = f"{name}--migratedaway"
        state["domains"][away] = state["domains"].pop(name)
    transport = opts.get("s", "ssh")
    command = (f"{transport} {shlex.quote(host)} xl migrate-receive"
               if transport else host)
    payload = json.dumps({"name": name, "domain": domain}) + "\n"
    proc = subprocess.run(["sh", "-c", command], input=payload.encode(),
                          capture_output=True, check=False, timeout=600)
    reply = proc.stdout.decode(errors="replace").strip().splitlines()
    with locked_state(directory) as state:
        if proc.returncode == 0 and reply and reply[-1] == "ok":
            del state["domains"][away]
            return "migration sender: Target reports successful startup.\n"
        state["domains"][name] = state["domains"].pop(away)
        state["domains"][name]["flags"] = domain["flags"]
    why = (reply[-1] if reply else
           proc.stderr.decode(errors="replace").strip().splitlines()[-1:]
           or [f"transport exited with status {proc.returncode}"])
    raise XlFailure(f"migration sender: target failed: "
                    f"{why if isinstance(why, str) else why[0]}")


def cmd_migrate_receive(directory: str, args: Sequence[str]) -> str:
    opts, _ = _split(args, "dper")
    line = sys.stdin.readline()
    try:
        payload = json.loads(line)
        name, sent = str(payload["name"]), dict(payload["domain"])
    except (ValueError, KeyError, TypeError):
        raise XlFailure("migration receiver: bad stream from the sender") from None
    try:
        with locked_state(directory) as state:
            failure = _take_failure(state, "migrate-receive")
            if failure:
                raise XlFailure(failure["message"])
            if name in state["domains"]:
                raise XlFailure(f"domain with name {name} already exists")
            incoming = f"{name}--incoming"
            domain = _new_domain(state, incoming, sent["config"],
                                 sent["config_text"], "p")
            domain["memory"], domain["vcpus"] = sent["memory"], sent["vcpus"]
            state["domains"][name] = state["domains"].pop(incoming)
            # Like xl: the domain runs after the migration unless -p,
            # whether or not it was paused on the source.
            domain["flags"] = "p" if "p" in opts else "r"
    except XlFailure as err:
        print(f"error {err}", flush=True)
        raise
    return "ok\n"


def run(argv: Sequence[str]) -> str:
    """Run one command; returns its stdout, raises XlFailure."""
    paths = pathutils.get()
    if not paths.root:
        raise XlFailure("the xl stand-in runs only under GANETI_ROOTDIR (a"
                        " local-cluster node)")
    directory = state_dir(paths)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, ARGV_LOG), "a", encoding="utf-8") as log:
        log.write(json.dumps(["xl", *argv]) + "\n")
    if not argv:
        raise XlFailure("usage: xl <subcommand> [args]")
    command, args = argv[0], argv[1:]
    if command == "migrate":
        return cmd_migrate(directory, args)
    if command == "migrate-receive":
        return cmd_migrate_receive(directory, args)
    table = {"create": cmd_create, "shutdown": cmd_shutdown,
             "destroy": cmd_destroy, "reboot": cmd_reboot,
             "pause": lambda s, a: _set_paused(s, a, True),
             "unpause": lambda s, a: _set_paused(s, a, False),
             "rename": cmd_rename, "list": cmd_list, "info": cmd_info,
             "console": cmd_console}
    if command not in table:
        raise XlFailure(f"unknown subcommand {command!r} (xl stand-in)")
    failure: XlFailure | None = None
    with locked_state(directory) as state:
        # What a command changed before it failed stays (a half-created
        # domain), as it would with xl.
        try:
            output = table[command](state, args)
        except XlFailure as err:
            failure = err
    if failure is not None:
        raise failure
    return output


def main(argv: Sequence[str] | None = None) -> int:
    try:
        sys.stdout.write(run(list(sys.argv[1:] if argv is None else argv)))
    except XlFailure as err:
        print(f"libxl: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
