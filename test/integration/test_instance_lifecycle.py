"""Instance creation, reinstall, rename, removal and listing on a real
2-node local cluster, with OS definitions of API 10, 15 and 20 written
here that record the environment of every script they run."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ganeti import constants
from ganeti.localcluster import LocalCluster, LocalNode

pytestmark = pytest.mark.integration

EXAMPLE_OS = Path(__file__).resolve().parents[2] / "doc" / "examples" / "os" \
    / "ganeti-demo-os"
SCRIPTS = ("create", "import", "export", "rename", "verify")


def out_dir(node: LocalNode) -> Path:
    return Path(node.root) / "os-out"


def write_os(node: LocalNode, name: str, api: str, variants: str = "",
             parameters: str = "") -> None:
    """An OS whose scripts dump their environment to
    ``<root>/os-out/<os>-<script>.env`` (the verify script also refuses
    ``OSP_COLOR=red``)."""
    os_dir = Path(node.paths.os_search_path[0]) / name
    os_dir.mkdir(parents=True)
    out_dir(node).mkdir(exist_ok=True)
    (os_dir / constants.OS_API_FILE).write_text(api)
    if variants:
        (os_dir / constants.OS_VARIANTS_FILE).write_text(variants)
    (os_dir / constants.OS_PARAMETERS_FILE).write_text(parameters)
    for script in SCRIPTS:
        target = out_dir(node) / f"{name}-{script}.env"
        body = f"#!/bin/sh\nenv > '{target}'\n"
        if script == "verify":
            body += ('if [ "$OSP_COLOR" = red ]; then echo "red is not'
                     ' allowed" >&2; exit 1; fi\n')
        path = os_dir / script
        path.write_text(body)
        path.chmod(0o755)


def read_env(node: LocalNode, name: str, script: str) -> dict[str, str]:
    text = (out_dir(node) / f"{name}-{script}.env").read_text()
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line)


class Cluster:
    def __init__(self, lc: LocalCluster) -> None:
        self.lc = lc
        self.n1, self.n2 = lc.node(1), lc.node(2)
        for node in (self.n1, self.n2):
            write_os(node, "os10", "10\n")
            write_os(node, "os15", "15\n10\n", variants="v1\nv2\n")
            write_os(node, "os20", "20\n15\n10\n", variants="v1\n",
                     parameters="color the color\nsize a size\n")
            write_os(node, "os20b", "20\n", parameters="size a size\n"
                     "shape a shape\n")
            shutil.copytree(EXAMPLE_OS, Path(node.paths.os_search_path[0])
                            / "ganeti-demo-os")

    def gi(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.lc.gnt("gnt-instance", *args)

    def ok(self, command: str, *args: str) -> str:
        res = self.lc.gnt(command, *args)
        assert res.returncode == 0, f"{args}: {res.stdout}{res.stderr}"
        return res.stdout

    def fails(self, match: str, *args: str, code: int = 1) -> str:
        res = self.gi(*args)
        out = res.stdout + res.stderr
        assert res.returncode == code, out
        assert match in out, out
        return out

    def add(self, name: str, *extra: str, node: LocalNode | None = None
            ) -> str:
        node = node or self.n1
        return self.ok("gnt-instance", "add", "--no-name-check",
                       "--no-ip-check", "-n", node.name, *extra, name)

    def field(self, name: str, field: str) -> str:
        return self.ok("gnt-instance", "list", "--no-headers", "-o", field,
                       name).strip()


@pytest.fixture
def cl(make_cluster: Callable[..., LocalCluster]) -> Cluster:
    return Cluster(make_cluster(2))


def test_os_environment_per_api_version(cl: Cluster) -> None:
    common = ("-t", "file", "--disk", "0:size=32M", "--no-start",
              "--net", "0:mode=bridged,link=br7",
              "--net", "1:mode=routed,ip=192.0.2.9,link=100",
              "-B", "memory=64")
    cl.add("i10.example.com", "-o", "os10", *common, node=cl.n2)
    cl.add("i15.example.com", "-o", "os15+v2", *common, node=cl.n2)
    cl.add("i20.example.com", "-o", "os20+v1", "-O", "color=blue", *common,
           node=cl.n2)
    envs = {api: read_env(cl.n2, f"os{api}", "create")
            for api in (10, 15, 20)}
    root = cl.n2.root
    for api, env in envs.items():
        assert env["OS_API_VERSION"] == str(api)
        assert env["INSTANCE_NAME"] == f"i{api}.example.com"
        assert env["HYPERVISOR"] == constants.HT_FAKE
        assert env["DISK_COUNT"] == "1"
        assert env["DISK_0_PATH"] == (
            f"{root}/srv/ganeti/file-storage/i{api}.example.com/disk0")
        assert env["DISK_0_ACCESS"] == "rw"
        assert env["DISK_0_BACKEND_TYPE"] == "file:loop"
        assert env["NIC_COUNT"] == "2"
        assert env["NIC_0_MODE"] == "bridged"
        assert env["NIC_0_BRIDGE"] == env["NIC_0_LINK"] == "br7"
        assert "NIC_0_IP" not in env
        assert env["NIC_1_IP"] == "192.0.2.9"
        assert env["NIC_1_MODE"] == "routed" and env["NIC_1_LINK"] == "100"
        assert "NIC_1_BRIDGE" not in env
        assert env["NIC_0_MAC"].count(":") == 5
        assert env["DEBUG_LEVEL"] == "0"
        assert env["INSTANCE_BE_maxmem"] == "64"
        assert "INSTANCE_HV_kernel_path" in env
        assert "INSTANCE_REINSTALL" not in env
    assert envs[10]["INSTANCE_OS"] == "os10"
    # As current Ganeti: API 10 gets every variable but a variant (set,
    # empty) and the OS parameters.
    assert envs[10]["OS_VARIANT"] == ""
    assert envs[10]["OS_NAME"] == "os10"
    assert envs[10]["INSTANCE_HYPERVISOR"] == constants.HT_FAKE
    for name in ("OSP_COLOR", "INSTANCE_OS_PARAMETER_COLOR"):
        assert name not in envs[10]
    assert envs[15]["OS_VARIANT"] == "v2"
    assert envs[15]["INSTANCE_HYPERVISOR"] == constants.HT_FAKE
    assert "OSP_COLOR" not in envs[15]
    assert envs[20]["OS_VARIANT"] == "v1"
    assert envs[20]["OSP_COLOR"] == "blue"
    assert envs[20]["INSTANCE_OS_PARAMETER_COLOR"] == "blue"
    assert "OSP_SIZE" not in envs[20]

    cl.ok("gnt-instance", "rename", "--no-name-check", "--no-ip-check",
          "i15.example.com", "j15.example.com")
    renamed = read_env(cl.n2, "os15", "rename")
    assert renamed["OLD_INSTANCE_NAME"] == "i15.example.com"
    assert renamed["INSTANCE_NAME"] == "j15.example.com"
    assert renamed["DISK_0_PATH"].endswith("/j15.example.com/disk0")
    assert cl.field("j15.example.com", "disk.sizes") == "32"


def test_reinstall_os_parameters(cl: Cluster) -> None:
    cl.add("r1.example.com", "-t", "file", "-s", "8", "--no-nics",
           "-o", "os20+v1", "-O", "color=blue,size=5")
    cl.ok("gnt-os", "modify", "-O", "shape=round", "os20b")
    cl.fails("must be stopped", "reinstall", "-f", "r1.example.com")
    cl.ok("gnt-instance", "shutdown", "r1.example.com")
    # Same OS: parameters kept, -O overrides.
    cl.ok("gnt-instance", "reinstall", "-f", "-O", "size=6",
          "r1.example.com")
    env = read_env(cl.n1, "os20", "create")
    assert env["INSTANCE_REINSTALL"] == "1"
    assert (env["OSP_COLOR"], env["OSP_SIZE"]) == ("blue", "6")
    # Another OS, keeping the known parameters: size stays, color goes.
    cl.ok("gnt-instance", "reinstall", "-f", "-o", "os20b",
          "--keep-known-os-parameters", "r1.example.com")
    env = read_env(cl.n1, "os20b", "create")
    assert env["OSP_SIZE"] == "6" and "OSP_COLOR" not in env
    assert env["OSP_SHAPE"] == "round"
    assert cl.field("r1.example.com", "os") == "os20b"
    # Another OS without the flag: only the new OS's defaults and -O.
    cl.ok("gnt-instance", "reinstall", "-f", "-o", "os20+v1",
          "-O", "color=green", "r1.example.com")
    env = read_env(cl.n1, "os20", "create")
    assert env["OSP_COLOR"] == "green" and "OSP_SIZE" not in env
    cl.fails("red is not allowed", "reinstall", "-f", "-O", "color=red",
             "r1.example.com")
    cl.fails("Unknown OS parameter 'shape' for OS 'os20'", "reinstall", "-f",
             "-O", "shape=x", "r1.example.com")
    # Several instances at once, selected by their primary node.
    cl.add("r2.example.com", "-t", "file", "-s", "8", "--no-nics",
           "-o", "os10", "--no-start")
    cl.add("r3.example.com", "-t", "file", "-s", "8", "--no-nics",
           "-o", "os10", "--no-start", node=cl.n2)
    (out_dir(cl.n1) / "os10-create.env").unlink()
    out = cl.ok("gnt-instance", "reinstall", "--primary", "--force-multiple",
                cl.n1.name)
    assert read_env(cl.n1, "os10", "create")["INSTANCE_NAME"] == \
        "r2.example.com"
    assert "Reinstalling" not in out
    assert not (out_dir(cl.n2) / "os10-create.env").read_text().count(
        "INSTANCE_REINSTALL")


def test_bad_input_refused(cl: Cluster) -> None:
    base = ("add", "--no-name-check", "--no-ip-check", "-n", cl.n1.name,
            "-o", "os20+v1", "-t", "file", "-s", "8")
    cl.fails("expected a string of safe characters", *base,
             "-O", "color=a;b", "x.example.com")
    cl.fails("a routed NIC requires an IP address", *base,
             "--net", "0:mode=routed", "x.example.com")
    cl.fails("Unknown disk parameter 'stripes' for disk template 'file'",
             "add", "--no-name-check", "--no-ip-check", "-n", cl.n1.name,
             "-o", "os20+v1", "-t", "file", "--disk", "0:size=8,stripes=2",
             "x.example.com")
    cl.fails("unknown NIC parameter 'speed'", *base, "--net",
             "0:speed=10", "x.example.com")
    cl.fails("Unknown hypervisor parameter 'nosuch' for hypervisor 'fake'",
             *base, "-H", "fake:nosuch=1", "x.example.com")
    cl.fails("Unknown backend parameter 'colour'", *base, "-B", "colour=1",
             "x.example.com")
    cl.fails("The drbd template needs a secondary node (-n"
             " PRIMARY:SECONDARY)",
             "add", "--no-name-check", "--no-ip-check", "-n", cl.n1.name,
             "-o", "os20+v1", "-t", "drbd", "-s", "8", "x.example.com")
    cl.fails("Unsupported variant 'v9'", *base[:-4], "-o", "os20+v9",
             "-t", "file", "-s", "8", "x.example.com")
    cl.fails("does not support variants", *base[:-4], "-o", "os10+v1",
             "-t", "file", "-s", "8", "x.example.com")
    cl.fails("Missing bridges: br9", "add", "--no-name-check",
             "--no-ip-check", "-n", cl.n1.name, "-o", "os10", "-t",
             "diskless", "--net", "0:link=br9", "x.example.com")
    assert cl.ok("gnt-instance", "list", "--no-headers") == ""


def test_example_os_and_master_restart(cl: Cluster) -> None:
    cl.add("demo.example.com", "-t", "file", "--disk", "0:size=16M", "-o",
           "ganeti-demo-os+minimal", "-O", "hostname_prefix=web",
           "--net", "0:mode=routed,ip=192.0.2.20", node=cl.n2)
    disk = (Path(cl.n2.root) / "srv/ganeti/file-storage/demo.example.com"
            / "disk0")
    header = disk.read_bytes()[:1024].decode(errors="replace")
    assert header.startswith("GANETI-DEMO-OS 1")
    assert "instance=demo.example.com" in header
    assert "param.hostname_prefix=web" in header
    cl.add("dl.example.com", "-t", "diskless", "--no-nics", "-o", "os10",
           "--no-start")
    before = cl.ok("gnt-instance", "list", "--no-headers", "-o",
                   "name,status,oper_ram,pnode")
    assert "demo.example.com running 128" in " ".join(before.split())
    master = cl.lc.master()
    from ganeti import daemonutil

    daemonutil.stop(constants.MASTERD, master.paths)
    daemonutil.start(constants.MASTERD, ["--rpc-transport", "https"],
                     env=cl.lc.env(master))
    after = cl.ok("gnt-instance", "list", "--no-headers", "-o",
                  "name,status,oper_ram,pnode")
    assert after == before
    info = cl.ok("gnt-instance", "info", "demo.example.com")
    assert "actual state is up" in info
    assert "- maxmem: default (128)" in info
    assert "- minmem: default (128)" in info
    assert "- hostname_prefix: web" in info
    static = cl.ok("gnt-instance", "info", "--static", "demo.example.com")
    assert "actual state" not in static
    cl.ok("gnt-instance", "add-tags", "demo.example.com", "web", "prod")
    assert cl.ok("gnt-instance", "list-tags",
                 "demo.example.com").split() == ["prod", "web"]
    cl.ok("gnt-instance", "remove", "-f", "demo.example.com")
    assert not disk.exists() and not disk.parent.exists()
    assert cl.ok("gnt-instance", "list", "--no-headers", "-o",
                 "name").split() == ["dl.example.com"]


def test_gnt_os_commands(cl: Cluster) -> None:
    listed = cl.ok("gnt-os", "list").split()
    assert listed[0] == "Name"
    assert {"os10", "os15+v1", "os15+v2", "os20+v1",
            "ganeti-demo-os+full"} <= set(listed)
    diag = cl.ok("gnt-os", "diagnose")
    assert "OS: os20 [global status: valid]" in diag
    info = cl.ok("gnt-os", "info", "os20")
    assert "- color: the color" in info and "API versions: 20, 15, 10" in info
    cl.ok("gnt-os", "modify", "-H", "fake:kernel_path=/boot/k", "--hidden",
          "yes", "os10")
    assert "os10" not in cl.ok("gnt-os", "list").split()
    cl.add("h.example.com", "-t", "diskless", "--no-nics", "-o", "os10",
           "--no-start")
    assert cl.field("h.example.com", "hv/kernel_path") == "/boot/k"
    cl.ok("gnt-os", "modify", "--blacklisted", "yes", "os15")
    cl.fails("blacklisted", "add", "--no-name-check", "--no-ip-check", "-n",
             cl.n1.name, "-o", "os15", "-t", "diskless", "--no-nics",
             "b.example.com")
    # A broken copy on one node makes the OS invalid.
    (Path(cl.n2.paths.os_search_path[0]) / "os20" / "create").chmod(0o644)
    res = cl.lc.gnt("gnt-os", "diagnose")
    assert res.returncode == 1
    assert "OS: os20 [global status: invalid]" in res.stdout
    assert "create script not executable" in res.stdout


def test_failed_first_start_leaves_a_manageable_instance(cl: Cluster) -> None:
    """Issue 18: with the guide's kernel_path missing on the node, the
    start at the end of ``add`` failed and left an instance that every
    later command refused ("no such lock(s) in set instance") until the
    master daemon restarted.  Now it stays, stopped and manageable."""
    name = "zombie.example.com"
    kernel = "/boot/vmlinuz-issue18"
    cl.ok("gnt-cluster", "modify", "-H", f"fake:kernel_path={kernel}")
    res = cl.gi("add", "--no-name-check", "--no-ip-check", "-n", cl.n1.name,
                "-o", "os10", "-t", "file", "-s", "8", "--no-nics", name)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "Could not start instance" in out and "kernel_path" in out
    assert "was created but is stopped" in out
    assert cl.field(name, "status") == "ADMIN_down"
    assert f"Instance name: {name}" in cl.ok("gnt-instance", "info", name)
    cl.fails("kernel_path", "startup", name)
    cl.ok("gnt-instance", "shutdown", name)
    target = Path(cl.n1.paths.under(kernel))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("not really a kernel\n")
    cl.ok("gnt-instance", "startup", name)
    assert cl.field(name, "status") == "running"
    cl.ok("gnt-instance", "remove", "-f", name)
    assert cl.ok("gnt-instance", "list", "--no-headers") == ""
