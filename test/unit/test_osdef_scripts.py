"""Running OS scripts: environment, logs, failures, timeouts, the example OS."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_osdef_support import (
    EXAMPLE_OS_DIR,
    make_instance,
    make_os,
    os_log_root,
    output_dir,
    read_env,
)

from ganeti import constants, errors, objects, pathutils
from ganeti.osdef import (
    LOG_TAIL_LINES,
    SCRIPT_PATH,
    InvalidOS,
    OsDefinition,
    create_instance,
    export_instance,
    find_os,
    import_instance,
    os_environment,
    rename_instance,
    run_os_script,
    verify_parameters,
)
from ganeti.osdef.scripts import log_file_name, read_log_tail

#: Variables a shell adds to what it was given.
SHELL_VARS = {"PWD", "OLDPWD", "SHLVL", "_"}


@pytest.fixture
def paths(tmp_path: Path) -> Iterator[pathutils.Paths]:
    """OS logs go under tmp_path."""
    with os_log_root(tmp_path) as result:
        yield result


def _load(root: Path, name: str = "testos", **kwargs: Any) -> OsDefinition:
    make_os(root, name, **kwargs)
    return find_os(name, [str(root)])


def _env(osdef: OsDefinition, disk_paths: list[str], *,
         instance: objects.Instance | None = None,
         osparams: dict[str, str] | None = None,
         variant: str | None = None,
         api: int | None = None) -> dict[str, str]:
    inst = instance or make_instance(os_name=osdef.name)
    disks = [(path, disk, "rw")
             for path, disk in zip(disk_paths, inst.disks, strict=True)]
    return os_environment(
        osdef, api or osdef.api_version, inst, filled_hvparams={},
        filled_beparams={"maxmem": 128, "minmem": 128},
        filled_nicparams=[{"mode": "bridged", "link": "br0"}] * len(inst.nics),
        disks=disks, osparams=osparams or {}, variant=variant)


def _file_disk(size: int = 16) -> objects.Disk:
    return objects.Disk(dev_type=constants.LD_FILE, size=size,
                        logical_id=[constants.FD_LOOP, "unused"])


def _sparse(path: Path, mib: int = 16) -> str:
    with open(path, "wb") as handle:
        handle.truncate(mib * 1024 * 1024)
    return str(path)


def _recorded(env_seen: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env_seen.items() if k not in SHELL_VARS}


# --- Environment, arguments, working directory -----------------------------

def test_create_runs_with_exactly_the_environment(
        tmp_path: Path, paths: pathutils.Paths,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAEMON_SECRET", "must-not-leak")
    root = tmp_path / "os"
    osdef = _load(root, variants="v1\n")
    env = _env(osdef, ["/dev/a", "/dev/b"], variant="v1")
    result = create_instance(osdef, env)
    assert _recorded(read_env(root, "create")) == env
    out = output_dir(root)
    assert (out / "create.cwd").read_text().strip() == osdef.path
    assert (out / "create.args").read_text().strip() == ""
    assert result.script == "create"
    assert os.path.dirname(result.log_path) == paths.os_log_dir
    assert re.fullmatch(r"add-testos-inst1\.example\.com-\d{14}\.\d{6}\.log",
                        os.path.basename(result.log_path))


def test_path_is_fixed_even_if_missing_from_env(tmp_path: Path,
                                                paths: pathutils.Paths) -> None:
    root = tmp_path / "os"
    osdef = _load(root)
    run_os_script(osdef, "create", {"INSTANCE_NAME": "x"}, log_name="add-x")
    assert _recorded(read_env(root, "create")) == {"INSTANCE_NAME": "x",
                                                   "PATH": SCRIPT_PATH}


def test_reinstall_sets_instance_reinstall(tmp_path: Path,
                                           paths: pathutils.Paths) -> None:
    root = tmp_path / "os"
    osdef = _load(root)
    env = _env(osdef, ["/dev/a", "/dev/b"])
    create_instance(osdef, env)
    assert "INSTANCE_REINSTALL" not in read_env(root, "create")
    result = create_instance(osdef, env, reinstall=True)
    assert read_env(root, "create")["INSTANCE_REINSTALL"] == "1"
    assert os.path.basename(result.log_path).startswith(
        "reinstall-testos-inst1.example.com-")


def test_rename_gets_old_name(tmp_path: Path, paths: pathutils.Paths) -> None:
    root = tmp_path / "os"
    osdef = _load(root)
    env = _env(osdef, ["/dev/a", "/dev/b"])
    result = rename_instance(osdef, env, old_name="old.example.com")
    seen = read_env(root, "rename")
    assert seen["OLD_INSTANCE_NAME"] == "old.example.com"
    assert seen["INSTANCE_NAME"] == "inst1.example.com"
    assert os.path.basename(result.log_path).startswith(
        "rename-testos-old.example.com-inst1.example.com-")


@pytest.mark.parametrize("api", [10, 15, 20])
def test_import_and_export_variables(tmp_path: Path, paths: pathutils.Paths,
                                     api: int) -> None:
    root = tmp_path / "os"
    osdef = _load(root)
    env = _env(osdef, ["/dev/a", "/dev/b"], api=api)
    src = tmp_path / "dump"
    src.write_text("data")
    import_instance(osdef, env, disk_index=1, stdin_path=str(src))
    export_instance(osdef, env, disk_index=0,
                    stdout_path=str(tmp_path / "out.dump"))
    imp, exp = read_env(root, "import"), read_env(root, "export")
    assert (imp["IMPORT_DEVICE"], imp["IMPORT_INDEX"]) == ("/dev/b", "1")
    assert (exp["EXPORT_DEVICE"], exp["EXPORT_INDEX"]) == ("/dev/a", "0")
    # The DISK_PATH names are set for every API, as current Ganeti does.
    assert imp["IMPORT_DISK_PATH"] == "/dev/b"
    assert exp["EXPORT_DISK_PATH"] == "/dev/a"
    assert "EXPORT_DEVICE" not in imp and "IMPORT_DEVICE" not in exp


def test_import_reads_stdin_export_writes_stdout(
        tmp_path: Path, paths: pathutils.Paths) -> None:
    root = tmp_path / "os"
    osdef = _load(root, scripts={
        "import": '#!/bin/sh\ncat > "$IMPORT_DEVICE"\necho imported >&2\n',
        "export": '#!/bin/sh\ncat "$EXPORT_DEVICE"\necho exported >&2\n',
    })
    disk = tmp_path / "disk0"
    env = _env(osdef, [str(disk), "/dev/null"])
    src = tmp_path / "dump"
    src.write_bytes(b"\x00payload\xff" * 100)
    result = import_instance(osdef, env, disk_index=0, stdin_path=str(src))
    assert disk.read_bytes() == src.read_bytes()
    assert Path(result.log_path).read_text() == "imported\n"
    dest = tmp_path / "out.dump"
    result = export_instance(osdef, env, disk_index=0, stdout_path=str(dest))
    assert dest.read_bytes() == src.read_bytes()
    assert Path(result.log_path).read_text() == "exported\n"


def test_missing_import_source(tmp_path: Path, paths: pathutils.Paths) -> None:
    osdef = _load(tmp_path / "os")
    env = _env(osdef, ["/dev/a", "/dev/b"])
    with pytest.raises(errors.OpExecError, match="Cannot open import source"):
        import_instance(osdef, env, disk_index=0,
                        stdin_path=str(tmp_path / "missing"))


def test_unknown_disk_index(tmp_path: Path, paths: pathutils.Paths) -> None:
    osdef = _load(tmp_path / "os")
    env = _env(osdef, ["/dev/a", "/dev/b"])
    with pytest.raises(errors.ProgrammerError, match="DISK_2_PATH"):
        export_instance(osdef, env, disk_index=2,
                        stdout_path=str(tmp_path / "x"))


# --- Failures ----------------------------------------------------------------

def test_failing_script_error_has_log_path_and_tail(
        tmp_path: Path, paths: pathutils.Paths) -> None:
    failing = ("#!/bin/sh\n"
               "i=1\nwhile [ $i -le 30 ]; do echo \"line $i\"; i=$((i+1)); done\n"
               "echo 'disk full' >&2\nexit 3\n")
    osdef = _load(tmp_path / "os", scripts={"create": failing})
    env = _env(osdef, ["/dev/a", "/dev/b"])
    with pytest.raises(errors.OpExecError) as info:
        create_instance(osdef, env)
    err = info.value
    log_path = err.details["log_path"]
    assert err.message == (
        f"OS create script of 'testos' failed (exited with exit code 3), "
        f"see {log_path}; last line of output: disk full")
    assert err.code == errors.ErrorCode.EXEC
    assert err.details["exit_code"] == 3
    tail = err.details["log_tail"]
    assert len(tail) == LOG_TAIL_LINES
    assert tail[-1] == "disk full"
    assert tail[0] == "line 12"
    assert os.path.dirname(log_path) == paths.os_log_dir


def test_failing_script_without_output(tmp_path: Path,
                                       paths: pathutils.Paths) -> None:
    osdef = _load(tmp_path / "os", scripts={"rename": "#!/bin/sh\nexit 1\n"})
    env = _env(osdef, ["/dev/a", "/dev/b"])
    with pytest.raises(errors.OpExecError,
                       match=r"failed \(exited with exit code 1\), see [^;]*$") \
            as info:
        rename_instance(osdef, env, old_name="old")
    assert info.value.details["log_tail"] == []


def test_script_that_cannot_run(tmp_path: Path, paths: pathutils.Paths) -> None:
    osdef = _load(tmp_path / "os",
                  scripts={"create": "#!/nonexistent/interpreter\n"})
    env = _env(osdef, ["/dev/a", "/dev/b"])
    with pytest.raises(errors.OpExecError, match="cannot execute"):
        create_instance(osdef, env)


def test_timeout_kills_the_script(tmp_path: Path, paths: pathutils.Paths) -> None:
    marker = tmp_path / "survived"
    slow = ("#!/bin/sh\n"
            "echo started\n"
            f"(sleep 30; touch {marker}) &\n"
            "sleep 30\n")
    osdef = _load(tmp_path / "os", scripts={"create": slow})
    env = _env(osdef, ["/dev/a", "/dev/b"])
    # The timeout leaves the script ample time to say "started".
    with pytest.raises(errors.OpExecError, match=r"timed out after 1\.0 s") \
            as info:
        run_os_script(osdef, "create", env, log_name="add-x", timeout=1.0,
                      kill_grace=0.1)
    assert info.value.code == errors.ErrorCode.TIMEOUT
    assert info.value.details["timed_out"] is True
    assert info.value.details["log_tail"] == ["started"]
    assert not marker.exists()


def test_each_run_gets_its_own_log(tmp_path: Path,
                                   paths: pathutils.Paths) -> None:
    osdef = _load(tmp_path / "os")
    env = _env(osdef, ["/dev/a", "/dev/b"])
    logs = {run_os_script(osdef, "create", env, log_name="add-x",
                          clock=lambda: 1000.5).log_path for _ in range(3)}
    assert len(logs) == 3
    assert all(os.path.dirname(p) == paths.os_log_dir for p in logs)


def test_log_file_name() -> None:
    assert log_file_name("add-inst1", "debian", 0.25) == \
        "add-debian-inst1-19700101000000.250000.log"
    assert log_file_name("verify", "debian", 0) == \
        "verify-debian-19700101000000.000000.log"
    with pytest.raises(errors.ProgrammerError):
        log_file_name("add/../x", "debian", 0)


def test_read_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("".join(f"{i}\n" for i in range(100)) + "\n\n")
    assert read_log_tail(str(log), 3) == ["97", "98", "99"]
    assert read_log_tail(str(tmp_path / "missing")) == []


def test_script_missing_from_api(tmp_path: Path, paths: pathutils.Paths) -> None:
    osdef = _load(tmp_path / "os", versions="15\n")
    with pytest.raises(InvalidOS, match="has no verify script"):
        run_os_script(osdef, "verify", {}, log_name="verify")


# --- verify parameters -------------------------------------------------------

def test_verify_parameters_runs_verify(tmp_path: Path) -> None:
    root = tmp_path / "os"
    osdef = _load(root, variants="v1\n", parameters="dhcp Use DHCP\n")
    verify_parameters(osdef, {"dhcp": "yes"}, variant="v1")
    assert _recorded(read_env(root, "verify")) == {
        "PATH": SCRIPT_PATH, "OS_API_VERSION": "20", "OS_NAME": "testos",
        "OS_VARIANT": "v1", "DEBUG_LEVEL": "0", "OSP_DHCP": "yes",
        "INSTANCE_OS_PARAMETER_DHCP": "yes"}
    assert (output_dir(root) / "verify.args").read_text() == "parameters\n"


def test_verify_parameters_refusal(tmp_path: Path) -> None:
    refusing = ("#!/bin/sh\necho checking\n"
                "echo \"bad dhcp value: $OSP_DHCP\" >&2\nexit 1\n")
    osdef = _load(tmp_path / "os", parameters="dhcp\n",
                  scripts={"verify": refusing})
    with pytest.raises(errors.ParameterError) as info:
        verify_parameters(osdef, {"dhcp": "maybe"})
    assert info.value.message == ("OS 'testos' rejected the parameters "
                                  "(exited with exit code 1): "
                                  "bad dhcp value: maybe")
    assert info.value.details["log_tail"] == ["checking",
                                              "bad dhcp value: maybe"]


def test_verify_parameters_checks_before_running(tmp_path: Path) -> None:
    root = tmp_path / "os"
    osdef = _load(root, parameters="dhcp\n")
    with pytest.raises(errors.ParameterError, match="parameter 'dhcp'"):
        verify_parameters(osdef, {"dhcp": "a;b"})
    with pytest.raises(errors.ParameterError, match="Unknown OS parameter"):
        verify_parameters(osdef, {"other": "x"})
    assert not (output_dir(root) / "verify.env").exists()


def test_verify_parameters_timeout(tmp_path: Path) -> None:
    osdef = _load(tmp_path / "os",
                  scripts={"verify": "#!/bin/sh\nexec sleep 30\n"})
    with pytest.raises(InvalidOS, match="timed out"):
        verify_parameters(osdef, {}, timeout=0.2)


def test_verify_parameters_below_api20(tmp_path: Path) -> None:
    root = tmp_path / "os"
    osdef = _load(root, versions="15\n")
    verify_parameters(osdef, {})
    assert not (output_dir(root) / "verify.env").exists()
    with pytest.raises(errors.ParameterError, match="has no OS parameters"):
        verify_parameters(osdef, {"dhcp": "yes"})


# --- The example OS ----------------------------------------------------------

DEMO = "ganeti-demo-os"


def _demo() -> OsDefinition:
    return find_os(DEMO, [str(EXAMPLE_OS_DIR)])


def _header(path: str) -> dict[str, str]:
    with open(path, "rb") as handle:
        block = handle.read(1024)
    lines = block.rstrip(b"\0").decode().splitlines()
    assert lines[0] == "GANETI-DEMO-OS 1"
    assert lines[-1] == "END"
    return dict(line.split("=", 1) for line in lines[1:-1])


def _demo_env(disk: str, name: str = "web1.example.com", *,
              variant: str | None = "minimal", api: int = 20,
              osparams: dict[str, str] | None = None) -> dict[str, str]:
    osdef = _demo()
    os_name = f"{DEMO}+{variant}" if variant else DEMO
    instance = make_instance(os_name=os_name, name=name, nics=[],
                             disks=[_file_disk()])
    return _env(osdef, [disk], instance=instance, api=api,
                osparams=osparams if osparams is not None
                else {"hostname_prefix": "www-", "fill_size": "8"},
                variant=variant if api >= 15 else None)


def test_demo_minimal_writes_a_header(tmp_path: Path,
                                      paths: pathutils.Paths) -> None:
    disk = _sparse(tmp_path / "disk0")
    result = create_instance(_demo(), _demo_env(disk))
    assert _header(disk) == {
        "instance": "web1.example.com", "os": f"{DEMO}+minimal",
        "variant": "minimal", "hostname": "www-web1.example.com",
        "api": "20", "param.hostname_prefix": "www-", "param.fill_size": "8"}
    assert os.path.getsize(disk) == 16 * 1024 * 1024
    assert "wrote the demo header" in Path(result.log_path).read_text()


def test_demo_api10_uses_default_variant(tmp_path: Path,
                                         paths: pathutils.Paths) -> None:
    disk = _sparse(tmp_path / "disk0")
    create_instance(_demo(), _demo_env(disk, api=10, variant=None))
    header = _header(disk)
    assert (header["variant"], header["api"]) == ("minimal", "10")
    assert header["param.hostname_prefix"] == ""


def _debugfs_cat(disk: str, path: str) -> str:
    return subprocess.run(["debugfs", "-R", f"cat {path}", disk],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("mkfs.ext4") is None
                    or shutil.which("debugfs") is None
                    or shutil.which("e2fsck") is None,
                    reason="e2fsprogs not installed")
def test_demo_full_makes_a_filesystem_then_renames(
        tmp_path: Path, paths: pathutils.Paths) -> None:
    disk = _sparse(tmp_path / "disk0")
    osdef = _demo()
    create_instance(osdef, _demo_env(disk, variant="full"))
    subprocess.run(["e2fsck", "-fn", disk], capture_output=True, check=True)
    assert _debugfs_cat(disk, "/etc/hostname") == "www-web1.example.com\n"
    assert _header(disk)["variant"] == "full"

    env = _demo_env(disk, "db1.example.com", variant="full")
    rename_instance(osdef, env, old_name="web1.example.com")
    subprocess.run(["e2fsck", "-fn", disk], capture_output=True, check=True)
    assert _debugfs_cat(disk, "/etc/hostname") == "www-db1.example.com\n"
    assert "instance=db1.example.com" in _debugfs_cat(
        disk, "/ganeti-demo-os.info")
    assert _header(disk)["instance"] == "db1.example.com"


def test_demo_export_then_import_under_a_new_name(
        tmp_path: Path, paths: pathutils.Paths) -> None:
    osdef = _demo()
    disk = _sparse(tmp_path / "disk0")
    create_instance(osdef, _demo_env(disk))
    dump = tmp_path / "disk0.dump"
    export_instance(osdef, _demo_env(disk), disk_index=0,
                    stdout_path=str(dump))
    assert dump.stat().st_size == 16 * 1024 * 1024
    target = _sparse(tmp_path / "new0")
    import_instance(osdef, _demo_env(target, "copy.example.com"),
                    disk_index=0, stdin_path=str(dump))
    assert _header(target)["instance"] == "copy.example.com"


def test_demo_rename_refuses_a_foreign_disk(tmp_path: Path,
                                            paths: pathutils.Paths) -> None:
    disk = _sparse(tmp_path / "disk0")
    with pytest.raises(errors.OpExecError,
                       match="was not installed by this OS") as info:
        rename_instance(_demo(), _demo_env(disk), old_name="x.example.com")
    assert "rename: error:" in info.value.details["log_tail"][-1]


def test_demo_refuses_unknown_variant(tmp_path: Path,
                                      paths: pathutils.Paths) -> None:
    disk = _sparse(tmp_path / "disk0")
    with pytest.raises(errors.OpExecError, match="unsupported variant 'huge'"):
        create_instance(_demo(), _demo_env(disk, variant="huge"))


def test_demo_verify(tmp_path: Path) -> None:
    osdef = _demo()
    verify_parameters(osdef, {"hostname_prefix": "www-", "fill_size": "64"},
                      variant="full")
    verify_parameters(osdef, {})
    with pytest.raises(errors.ParameterError,
                       match="invalid hostname_prefix 'WWW'") as info:
        verify_parameters(osdef, {"hostname_prefix": "WWW"})
    assert info.value.details["log_tail"]
    with pytest.raises(errors.ParameterError, match="invalid fill_size 'lots'"):
        verify_parameters(osdef, {"fill_size": "lots"})
    with pytest.raises(errors.ParameterError, match="unsupported variant"):
        verify_parameters(osdef, {}, variant="huge")


@pytest.mark.parametrize("script", ["create", "import", "export", "rename",
                                    "verify"])
def test_demo_scripts_print_usage(script: str) -> None:
    path = EXAMPLE_OS_DIR / DEMO / script
    bad = subprocess.run([str(path), "--bogus", "x"], capture_output=True,
                         text=True, env={"PATH": SCRIPT_PATH}, check=False)
    assert bad.returncode != 0
    assert f"Usage: {script}" in bad.stderr
    helped = subprocess.run([str(path), "--help"], capture_output=True,
                            text=True, env={"PATH": SCRIPT_PATH}, check=False)
    assert helped.returncode == 0
    assert f"Usage: {script}" in helped.stderr
