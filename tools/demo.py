"""The demo behind ``tools/demo`` (see the README).

Builds a cluster under one directory, shows its configuration through the
model, starts the master daemon and drives it with the real ``gnt-*``
commands, then stops everything (unless ``--keep-running``).  Every node
lives under ``DIR/<node>`` (the root prefix mechanism), so nothing outside
DIR is touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "pylib"))

from ganeti import config, daemon, objects, pathutils  # noqa: E402

MASTER = "node1.demo.example"
CLUSTER = "cluster.demo.example"


def banner(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def node_env(root: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(GANETI_ROOTDIR=root, GANETI_HOSTNAME=MASTER,
               PYTHONPATH=os.path.join(REPO, "pylib"),
               PATH=os.pathsep.join([os.path.join(REPO, ".venv", "bin"),
                                     os.path.join(REPO, "scripts"),
                                     os.path.join(REPO, "daemons"),
                                     env.get("PATH", "")]))
    return env


def run(env: dict[str, str], *argv: str, check: bool = True) -> int:
    print(f"$ {' '.join(argv)}", flush=True)
    res = subprocess.run(list(argv), env=env, check=False)
    if check and res.returncode != 0:
        raise SystemExit(f"demo: '{' '.join(argv)}' failed with exit code "
                         f"{res.returncode}")
    return res.returncode


def stop_master(root: str) -> None:
    pid_file = pathutils.Paths(root).pid_file("ganeti-masterd")
    pid = daemon.read_pid(pid_file)
    if pid is None or not daemon.is_running(pid_file):
        return
    os.kill(pid, signal.SIGTERM)
    for _ in range(200):
        if not daemon.is_running(pid_file):
            return
        time.sleep(0.05)
    raise SystemExit(f"demo: the master daemon (pid {pid}) did not stop")


def init_cluster(root: str) -> None:
    paths = pathutils.Paths(root)
    os.makedirs(paths.data_dir, mode=0o755, exist_ok=True)
    cluster = objects.Cluster(
        cluster_name=CLUSTER, master_node=MASTER, master_ip="127.0.0.1",
        enabled_hypervisors=["fake"],
        file_storage_dir=pathutils.CONFIGURED_FILE_STORAGE_DIR)
    master = objects.Node(name=MASTER, primary_ip="127.0.0.1",
                          secondary_ip="127.0.0.1")
    config.initialize(paths.cluster_conf_file, cluster, master).close()


def show_config(root: str) -> None:
    paths = pathutils.Paths(root)
    cfg = config.ConfigWriter(paths.cluster_conf_file, offline=True)
    cluster = cfg.get_cluster()
    print(f"config file:          {paths.cluster_conf_file}")
    print(f"serial number:        {cfg.get_serial_no()}")
    print(f"cluster name:         {cluster.cluster_name} (uuid {cluster.uuid})")
    print(f"master node:          {cluster.master_node}")
    print(f"enabled hypervisors:  {', '.join(cluster.enabled_hypervisors)}")
    for hv in cluster.enabled_hypervisors:
        filled = cluster.fill_hv(hv, None, {})
        print(f"  {hv} parameters:     {filled}")
    print(f"backend defaults:     {cluster.fill_be({})}")
    print(f"NIC defaults:         {cluster.fill_nic({})}")
    print(f"file disk defaults:   {cluster.fill_disk('file', {})}")
    for name in cfg.node_names():
        node = cfg.get_node(name)
        print(f"node {name}: ip {node.primary_ip}, role {node.role}, "
              f"uuid {node.uuid}")
    problems = config.verify_config(cfg.get_config_data())
    print("consistency check:    " + ("; ".join(problems) if problems else "ok"))
    cfg.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default="demo",
                        help="where the demo cluster lives (default: ./demo)")
    parser.add_argument("--keep-running", action="store_true",
                        help="leave the master daemon running at the end")
    opts = parser.parse_args()
    base = os.path.abspath(opts.directory)
    root = os.path.join(base, "node1")
    if os.path.isdir(root):
        stop_master(root)
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    env = node_env(root)

    banner(f"Initialising a one-node cluster under {root}")
    init_cluster(root)
    banner("The configuration, read back through the model")
    show_config(root)

    banner("Starting the master daemon")
    run(env, "ganeti-masterd")
    try:
        banner("Talking to it with the gnt-* commands")
        run(env, "gnt-cluster", "version")
        run(env, "gnt-cluster", "getmaster")
        run(env, "gnt-cluster", "info")
        run(env, "gnt-debug", "delay", "--repeat", "2", "0.2")
        run(env, "gnt-debug", "delay", "--submit", "0.5")
        run(env, "gnt-job", "list")
        run(env, "gnt-job", "info", "1")
        run(env, "gnt-cluster", "queue", "drain")
        rc = run(env, "gnt-debug", "delay", "0", check=False)
        print(f"(a drained queue refuses new jobs: exit code {rc})")
        run(env, "gnt-cluster", "queue", "undrain")
        run(env, "gnt-cluster", "queue", "info")
    finally:
        if not opts.keep_running:
            banner("Stopping the master daemon")
            stop_master(root)
    with open(os.path.join(base, "env.sh"), "w") as handle:
        for key in ("GANETI_ROOTDIR", "GANETI_HOSTNAME", "PYTHONPATH", "PATH"):
            handle.write(f"export {key}='{env[key]}'\n")
    banner("Done")
    print(f"All state is under {base}; 'source {base}/env.sh' points the "
          "gnt-* commands at it.")
    if opts.keep_running:
        print("The master daemon is still running; stop it with "
              f"kill $(cat {pathutils.Paths(root).pid_file('ganeti-masterd')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
