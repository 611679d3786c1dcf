"""Build and install with autotools in a scratch copy, then run the result.

The tree is copied first (tracked files plus untracked ones that are not
ignored), so the work tree never sees a generated file.  ``autogen.sh``
runs once per module; each configuration gets its own copy of that tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from conftest_cluster import _free_prefix, short_dir

from ganeti import _autoconf_defaults

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "/opt/gnt"
SYSCONFDIR = "/etc/gnt-test"
LOCALSTATEDIR = "/var/gnt-test"
OS_PATH = "/srv/os-a:/srv/os-b"


def _tools_missing() -> list[str]:
    return [tool for tool in ("autoreconf", "aclocal", "automake", "make")
            if shutil.which(tool) is None]


def _source_files() -> list[str]:
    """Relative paths of the project's files (git's view when available)."""
    if (ROOT / ".git").exists() and shutil.which("git"):
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"], cwd=ROOT, capture_output=True,
            check=True, stdin=subprocess.DEVNULL).stdout
        return sorted({p for p in out.decode().split("\0") if p})
    skip = {".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache",
            ".pytest_cache", ".hypothesis", "autom4te.cache"}
    found = []
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in skip]
        for name in filenames + [d for d in dirnames
                                 if os.path.islink(os.path.join(dirpath, d))]:
            found.append(os.path.relpath(os.path.join(dirpath, name), ROOT))
    return sorted(found)


def _copy_tree(dest: Path) -> None:
    for rel in _source_files():
        src = ROOT / rel
        if not os.path.lexists(src):  # deleted but not yet committed
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), target)
        else:
            shutil.copy2(src, target)


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                          text=True, check=False, timeout=600,
                          stdin=subprocess.DEVNULL)


def _sh(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = _run(cmd, cwd, env)
    assert result.returncode == 0, (
        f"{' '.join(cmd)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n"
        f"--- stderr\n{result.stderr[-4000:]}")
    return result.stdout


def _build_env(base: Path, python: str = sys.executable) -> dict[str, str]:
    """A plain environment: the system tools, and this test's python for
    configure (any python3 >= 3.11 with the dependencies works; this one
    is known to)."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(base), "LC_ALL": "C", "PYTHON": python}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of the tree after ``autogen.sh`` (not configured); the work
    tree is checked to be unchanged once the module's tests are done."""
    missing = _tools_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the build tools; missing: {missing}"
                        " (tools/bootstrap-env installs them)")
        pytest.skip(f"autotools not installed ({', '.join(missing)});"
                    " run tools/bootstrap-env")
    before = _tree_snapshot()
    base = tmp_path_factory.mktemp("generated")
    tree = base / "src"
    tree.mkdir()
    _copy_tree(tree)
    _sh(["./autogen.sh"], tree, _build_env(base))
    yield tree
    assert _tree_snapshot() == before, "the build wrote into the work tree"


def _configured_copy(generated: Path, base: Path, *args: str,
                     python: str = sys.executable) -> Path:
    src = base / "src"
    shutil.copytree(generated, src, symlinks=True)
    _sh(["./configure", *args], src, _build_env(base, python))
    return src


@pytest.fixture(scope="module")
def installed(generated: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("install")
    destdir = base / "dest"
    src = _configured_copy(
        generated, base, f"--prefix={PREFIX}", f"--sysconfdir={SYSCONFDIR}",
        f"--localstatedir={LOCALSTATEDIR}", f"--with-os-search-path={OS_PATH}",
        "--with-daemon-group=gnt-daemons")
    env = _build_env(base)
    _sh(["make"], src, env)
    _sh(["make", "install", f"DESTDIR={destdir}"], src, env)
    pythondir = _sh(["make", "-s", "print-pythondir"], src, env).strip()
    return {"src": src, "dest": destdir, "pythondir": Path(pythondir),
            "pkg": destdir / pythondir.lstrip("/") / "ganeti",
            "prefix": destdir / PREFIX.lstrip("/")}


def test_installed_gnt_cluster_prints_version(installed: dict[str, Path]) -> None:
    version = _read_default_version()
    launcher = installed["dest"] / PREFIX.lstrip("/") / "sbin" / "gnt-cluster"
    assert os.access(launcher, os.X_OK)
    # Outside the source tree.  The launcher looks for the package where
    # it will be once DESTDIR's content is in place; until then, point
    # Python at the staged copy.
    env = {"PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(installed["pkg"].parent)}
    out = _sh([str(launcher), "--version"], installed["dest"], env)
    assert out == f"gnt-cluster (ganeti) {version}\n"
    out = _sh([str(launcher), "version"], installed["dest"], env)
    assert out.splitlines()[0] == f"Software version: {version}"


def test_the_node_rpc_engine_is_built_and_installed(
        installed: dict[str, Path]) -> None:
    """make builds the C engine of node RPC (tools/build-fanout) and
    installs it beside the package's modules, where node RPC picks it."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert (installed["pkg"] / "http" / f"_fanout{suffix}").is_file()
    env = {"PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(installed["pkg"].parent)}
    out = _sh([sys.executable, "-c",
               "from ganeti.http import fanout; import ganeti; "
               "print(fanout.built(), ganeti.__file__)"],
              installed["dest"], env)
    built, module = out.split()
    assert built == "True"
    assert module.startswith(str(installed["pkg"]))


def test_launcher_bakes_in_the_configured_python_path(
        installed: dict[str, Path]) -> None:
    launcher = installed["dest"] / PREFIX.lstrip("/") / "sbin" / "gnt-cluster"
    text = launcher.read_text()
    assert text.startswith(f"#!{sys.executable}\n")
    assert f'_PYTHONDIR = "{installed["pythondir"]}"' in text
    # The configured path, not the DESTDIR staging one.
    assert str(installed["dest"]) not in text


def test_configured_paths_are_in_the_installed_module(
        installed: dict[str, Path]) -> None:
    text = (installed["pkg"] / "_autoconf.py").read_text()
    assert f'SYSCONFDIR = "{SYSCONFDIR}"' in text
    assert f'LOCALSTATEDIR = "{LOCALSTATEDIR}"' in text
    assert f'PREFIX = "{PREFIX}"' in text
    assert f'SBINDIR = "{PREFIX}/sbin"' in text
    assert f'OS_SEARCH_PATH = "{OS_PATH}"' in text
    assert 'DAEMON_GROUP = "gnt-daemons"' in text
    assert 'FILE_STORAGE_DIR = "/srv/ganeti/file-storage"' in text
    assert ('IALLOCATOR_SEARCH_PATH = "/usr/lib/ganeti/iallocators:'
            '/usr/local/lib/ganeti/iallocators"') in text
    assert f'PACKAGE_VERSION = "{_read_default_version()}"' in text
    assert "@" not in text and "${" not in text


def test_every_module_is_installed(installed: dict[str, Path]) -> None:
    lib = installed["src"] / "lib"
    source = {str(p.relative_to(lib)) for p in lib.rglob("*.py")
              if "__pycache__" not in p.parts}
    target = {str(p.relative_to(installed["pkg"]))
              for p in installed["pkg"].rglob("*.py")
              if "__pycache__" not in p.parts}
    # _autoconf.py is generated into build/, never into lib/.
    assert "_autoconf.py" not in source
    assert (installed["src"] / "build" / "_autoconf.py").is_file()
    assert source | {"_autoconf.py"} == target


def test_manual_pages_are_installed_in_their_sections(
        installed: dict[str, Path]) -> None:
    man = installed["prefix"] / "share" / "man"
    pages = {str(p.relative_to(man)) for p in man.rglob("*") if p.is_file()}
    assert {"man8/gnt-cluster.8", "man8/gnt-instance.8", "man8/ganeti-noded.8",
            "man8/cfgupgrade.8", "man7/ganeti-os-interface.7",
            "man1/local-cluster.1"} <= pages
    # Every installed program has its page.
    makefile = (ROOT / "Makefile.am").read_text().replace("\\\n", " ")
    programs = set()
    for name in ("GNT_COMMANDS", "DAEMON_COMMANDS", "TOOL_COMMANDS"):
        listed = re.search(rf"^{name} =(.*)$", makefile, re.M)
        assert listed
        programs |= {os.path.basename(p) for p in listed.group(1).split()}
    assert programs <= {p.split("/")[1].rsplit(".", 1)[0] for p in pages}
    text = (man / "man8" / "gnt-cluster.8").read_text()
    version = _read_default_version()
    assert f'.TH "GNT-CLUSTER" 8 "" "{version}" "Ganeti"' in text
    # One NAME header, holding the name and the description.
    assert text.count(".SH NAME") == 1
    name_body = text.split(".SH NAME\n", 1)[1].split(".SH", 1)[0]
    assert name_body.startswith("gnt-cluster \\- ")
    assert "Version" not in name_body
    assert ".SH SYNOPSIS" in text


def test_example_os_and_cfgupgrade_are_installed(
        installed: dict[str, Path]) -> None:
    for name in ("ganeti-demo-os", "debootstrap", "busybox"):
        os_dir = installed["prefix"] / "share" / "ganeti" / "os" / name
        example = ROOT / "doc" / "examples" / "os" / name
        assert sorted(os.listdir(os_dir)) == sorted(os.listdir(example))
        assert os.access(os_dir / "create", os.X_OK)
    tool = installed["prefix"] / "lib" / "ganeti" / "tools" / "cfgupgrade"
    env = {"PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(installed["pkg"].parent)}
    out = _sh([str(tool), "--help"], installed["dest"], env)
    assert "--dry-run" in out


def test_configure_names_a_missing_runtime_module(
        generated: Path, tmp_path: Path) -> None:
    # A venv of the same interpreter without any package installed.
    bare = tmp_path / "bare"
    base_python = getattr(sys, "_base_executable", sys.executable)
    _sh([base_python, "-m", "venv", "--without-pip", str(bare)], tmp_path)
    python = str(bare / "bin" / "python")
    assert _run([python, "-c", "import cryptography"], tmp_path).returncode
    src = tmp_path / "src"
    shutil.copytree(generated, src, symlinks=True)
    res = _run(["./configure"], src, _build_env(tmp_path, python))
    assert res.returncode != 0
    assert "lacks the Python module 'cryptography'" in res.stderr
    assert not (src / "Makefile").exists()


def test_building_in_a_checkout_keeps_its_local_cluster(
        generated: Path, tmp_path: Path) -> None:
    """A local cluster started from a checkout is still found by the
    checkout's commands after configure and make ran in that checkout
    (make used to write lib/_autoconf.py, moving every path)."""
    src = tmp_path / "src"
    shutil.copytree(generated, src, symlinks=True)
    directory = Path(short_dir()) / "lc"
    tool = [sys.executable, str(src / "tools" / "local-cluster")]
    try:
        _sh([*tool, "start", str(directory), "--nodes", "1", "--no-rapi",
             "--prefix", _free_prefix(1)], src)
        env = _build_env(tmp_path)
        _sh(["./configure", "--prefix=/opt/gnt-other"], src, env)
        _sh(["make"], src, env)
        status = _run([*tool, "status", str(directory)], src)
        assert status.returncode == 0, status.stdout + status.stderr
        assert "ganeti-masterd (pid" in status.stdout
        master = _sh(["bash", "-c", f". {directory}/env.sh && "
                      f"{src}/scripts/gnt-cluster getmaster"], src,
                     {"PATH": os.environ["PATH"]})
        assert master.strip() == "node1.local-cluster.example"
    finally:
        _run([*tool, "stop", str(directory)], src)
        shutil.rmtree(directory.parent, ignore_errors=True)


def test_installed_local_cluster_runs_the_installed_commands(
        generated: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "p"
    src = _configured_copy(generated, tmp_path, f"--prefix={prefix}",
                           "--sysconfdir=/etc", "--localstatedir=/var")
    _sh(["make", "install"], src, _build_env(tmp_path))
    autoconf = next(prefix.rglob("ganeti/_autoconf.py")).read_text()
    assert (f'OS_SEARCH_PATH = "/srv/ganeti/os:{prefix}/share/ganeti/os"'
            in autoconf)
    tool = str(prefix / "lib" / "ganeti" / "tools" / "local-cluster")
    directory = Path(short_dir()) / "lc"
    env = {"PATH": "/usr/bin:/bin"}  # nothing of the checkout
    try:
        started = _sh([tool, "start", str(directory), "--nodes", "2",
                       "--no-rapi", "--prefix", _free_prefix(2)],
                      tmp_path, env)
        assert "ganeti-masterd (pid" in started
        status = _sh([tool, "status", str(directory)], tmp_path, env)
        lines = status.splitlines()
        assert len(lines) == 2
        assert all("ganeti-noded (pid" in line for line in lines)
        assert all("ganeti-confd (pid" in line for line in lines)
        master = _sh(["bash", "-c", f". {directory}/env.sh && "
                      "command -v gnt-cluster && gnt-cluster getmaster"],
                     tmp_path, env).split()
        assert master == [str(prefix / "sbin" / "gnt-cluster"),
                          "node1.local-cluster.example"]
    finally:
        stopped = _run([tool, "stop", str(directory)], tmp_path, env)
        shutil.rmtree(directory.parent, ignore_errors=True)
    assert stopped.returncode == 0, stopped.stderr
    # 2 noded, 2 mond, 2 confd (the installed launcher), masterd
    assert len(stopped.stdout.splitlines()) == 7


#: What other tests write into the work tree while this module runs (on
#: parallel workers): their artifacts and caches, not a build's output.
_OTHER_TESTS: Final = {"/build", "/.hypothesis", "/.pytest_cache"}


def _tree_snapshot() -> set[str]:
    """Names in the work tree's top level and lib/ (where a build writes)."""
    return ({f"/{n}" for n in os.listdir(ROOT)} - _OTHER_TESTS
            | {f"lib/{n}" for n in os.listdir(ROOT / "lib")}
            | {f"scripts/{n}" for n in os.listdir(ROOT / "scripts")})


def _read_default_version() -> str:
    return _autoconf_defaults.PACKAGE_VERSION
