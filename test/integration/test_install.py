"""Build and install with autotools in a scratch copy, then run the result.

The tree is copied first (tracked files plus untracked ones that are not
ignored), so the work tree never sees a generated file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def _sh(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                            text=True, check=False, timeout=600,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, (
        f"{' '.join(cmd)} exited {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n"
        f"--- stderr\n{result.stderr[-4000:]}")
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    missing = _tools_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the build tools; missing: {missing}"
                        " (tools/bootstrap-env installs them)")
        pytest.skip(f"autotools not installed ({', '.join(missing)});"
                    " run tools/bootstrap-env")
    before = _tree_snapshot()
    base = tmp_path_factory.mktemp("install")
    src = base / "src"
    destdir = base / "dest"
    src.mkdir()
    _copy_tree(src)
    # A plain environment: the system tools, this test's python for
    # configure (any python3 >= 3.11 works; this one is known to).
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": str(base), "LC_ALL": "C",
           "PYTHON": sys.executable}
    _sh(["./autogen.sh"], src, env)
    _sh(["./configure", f"--prefix={PREFIX}", f"--sysconfdir={SYSCONFDIR}",
         f"--localstatedir={LOCALSTATEDIR}", f"--with-os-search-path={OS_PATH}",
         "--with-daemon-group=gnt-daemons"], src, env)
    _sh(["make"], src, env)
    _sh(["make", "install", f"DESTDIR={destdir}"], src, env)
    pythondir = _sh(["make", "-s", "print-pythondir"], src, env).strip()
    assert _tree_snapshot() == before, "the build wrote into the work tree"
    return {"src": src, "dest": destdir, "pythondir": Path(pythondir),
            "pkg": destdir / pythondir.lstrip("/") / "ganeti"}


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
    assert f'PACKAGE_VERSION = "{_read_default_version()}"' in text
    assert "@" not in text and "${" not in text


def test_every_module_is_installed(installed: dict[str, Path]) -> None:
    lib = installed["src"] / "lib"
    source = {str(p.relative_to(lib)) for p in lib.rglob("*.py")
              if "__pycache__" not in p.parts}
    target = {str(p.relative_to(installed["pkg"]))
              for p in installed["pkg"].rglob("*.py")
              if "__pycache__" not in p.parts}
    # _autoconf.py is generated in the build tree, so it is in both.
    assert "_autoconf.py" in source
    assert source == target


def _tree_snapshot() -> set[str]:
    """Names in the work tree's top level and lib/ (where a build writes)."""
    return ({f"/{n}" for n in os.listdir(ROOT)}
            | {f"lib/{n}" for n in os.listdir(ROOT / "lib")}
            | {f"scripts/{n}" for n in os.listdir(ROOT / "scripts")})


def _read_default_version() -> str:
    return _autoconf_defaults.PACKAGE_VERSION
