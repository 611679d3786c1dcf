"""One version everywhere: configure.ac, the checkout defaults, the CLI."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

from ganeti import _autoconf_defaults, constants
from ganeti.client import gnt_cluster

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))


def _configure_ac_version() -> str:
    with open(os.path.join(ROOT, "configure.ac"), encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"^AC_INIT\(\[ganeti\],\s*\[([^\]]+)\]", text, re.M)
    assert match, "configure.ac has no AC_INIT([ganeti], [VERSION])"
    return match.group(1)


def test_configure_ac_and_checkout_defaults_agree() -> None:
    assert _configure_ac_version() == _autoconf_defaults.PACKAGE_VERSION


def test_autoconf_template_names_match_the_defaults() -> None:
    with open(os.path.join(ROOT, "lib", "_autoconf.py.in"),
              encoding="utf-8") as f:
        template = f.read()
    names = set(re.findall(r"^([A-Z_]+) = ", template, re.M))
    defaults = {n for n in vars(_autoconf_defaults) if n.isupper()}
    assert names == defaults


def _main(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    real = sys.stdout
    sys.stdout = out
    try:
        code = gnt_cluster.main(["gnt-cluster", *argv])
    finally:
        sys.stdout = real
    return code, out.getvalue()


def test_gnt_cluster_version_option() -> None:
    assert _main("--version") == (
        0, f"gnt-cluster (ganeti) {constants.RELEASE_VERSION}\n")


def test_gnt_cluster_version_command() -> None:
    code, out = _main("version")
    assert code == 0
    assert out.splitlines() == [
        f"Software version: {constants.RELEASE_VERSION}",
        f"Internode protocol: {constants.PROTOCOL_VERSION}",
        f"Configuration format: {constants.CONFIG_VERSION}",
        f"OS api version: {max(constants.OS_API_VERSIONS)}",
        f"Export interface: {gnt_cluster.EXPORT_VERSION}",
    ]


def test_gnt_cluster_without_command_lists_version() -> None:
    code, out = _main()
    assert code == 1
    assert any(line.startswith(" version ") for line in out.splitlines())


def test_checkout_launcher_runs_with_pylib_on_path() -> None:
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "pylib"))
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "gnt-cluster"),
         "--version"], env=env, capture_output=True, text=True, check=False,
        stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"gnt-cluster (ganeti) {constants.RELEASE_VERSION}\n"
