"""The demo behind ``tools/demo`` (see the README).

Starts a real three-node cluster on this machine (``tools/local-cluster``:
one node daemon per node on 127.0.0.1-3 (``--prefix``; when those are
taken, the first free 127.0.X.1-3), each node under its own root in DIR,
the master daemon on node 1), installs the example OS definition on
every node, shows the configuration through the model, and drives the
cluster with the real ``gnt-*`` commands: nodes, OSes, instances with file
and diskless disks on the fake hypervisor, a live migration, jobs and a
cluster verify.  Everything lives under DIR; the cluster keeps running at
the end (``--stop`` stops it) and ``DIR/env.sh`` points the commands at it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "pylib"))

from ganeti import config, constants, errors, localcluster  # noqa: E402

EXAMPLE_OS = os.path.join(REPO, "doc", "examples", "os", "ganeti-demo-os")


def banner(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def run(cluster: localcluster.LocalCluster, *argv: str,
        check: bool = True) -> int:
    print(f"$ {' '.join(argv)}", flush=True)
    res = subprocess.run(list(argv), env=cluster.env(), check=False,
                         stdin=subprocess.DEVNULL)
    if check and res.returncode != 0:
        raise SystemExit(f"demo: '{' '.join(argv)}' failed with exit code "
                         f"{res.returncode}")
    return res.returncode


def install_example_os(cluster: localcluster.LocalCluster) -> None:
    for node in cluster.nodes:
        target = os.path.join(node.paths.os_search_path[0], "ganeti-demo-os")
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(EXAMPLE_OS, target, symlinks=True)
        print(f"{node.name}: {target}")


def show_config(cluster: localcluster.LocalCluster) -> None:
    paths = cluster.master().paths
    cfg = config.ConfigWriter(paths.cluster_conf_file, offline=True)
    data = cfg.get_config_data()
    cluster_obj = data.cluster
    print(f"config file:          {paths.cluster_conf_file} "
          f"(serial {data.serial_no})")
    print(f"cluster:              {cluster_obj.cluster_name} "
          f"(uuid {cluster_obj.uuid})")
    print(f"master node:          {cluster_obj.master_node}")
    print(f"enabled hypervisors:  {', '.join(cluster_obj.enabled_hypervisors)}")
    for hv in cluster_obj.enabled_hypervisors:
        print(f"  {hv} parameters:     {cluster_obj.fill_hv(hv, None, {})}")
    print(f"backend defaults:     {cluster_obj.fill_be({})}")
    print(f"NIC defaults:         {cluster_obj.fill_nic({})}")
    print(f"file disk defaults:   {cluster_obj.fill_disk('file', {})}")
    for name in cfg.node_names():
        node = data.nodes[name]
        print(f"node {name}: ip {node.primary_ip}, role {node.role}")
    problems = config.verify_config(data)
    print("consistency check:    " + ("; ".join(problems) if problems else "ok"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default="demo",
                        help="where the demo cluster lives (default: ./demo)")
    parser.add_argument("--stop", action="store_true",
                        help="stop the cluster at the end")
    parser.add_argument("--prefix", default=None,
                        help="the nodes' addresses are PREFIX1 to PREFIX3"
                        f" (default: {localcluster.DEFAULT_PREFIX} or, when"
                        " taken, the first free 127.0.X.)")
    opts = parser.parse_args()
    if opts.prefix is not None:
        try:
            localcluster.check_prefix(opts.prefix)
        except errors.GenericError as err:
            parser.error(str(err))
    base = os.path.abspath(opts.directory)
    if os.path.exists(os.path.join(base, localcluster.STATE_FILE)):
        banner(f"Stopping the previous demo cluster in {base}")
        localcluster.LocalCluster.load(base).stop()
    shutil.rmtree(base, ignore_errors=True)

    try:
        prefix = localcluster.choose_prefix(opts.prefix, 3,
                                            constants.DEFAULT_RAPI_PORT)
    except errors.GenericError as err:
        print(f"demo: {err}", file=sys.stderr)
        return err.exit_code
    banner(f"Starting a three-node local cluster under {base} on "
           f"{prefix}1-3")
    cluster = localcluster.LocalCluster(base, nodes=3, prefix=prefix)
    cluster.start()
    for line in cluster.status():
        print(line)
    banner("Installing the example OS definition on every node")
    install_example_os(cluster)
    banner("The configuration, read back through the model")
    show_config(cluster)

    banner("Nodes, OSes and the cluster")
    run(cluster, "gnt-cluster", "getmaster")
    run(cluster, "gnt-node", "list")
    run(cluster, "gnt-os", "list")
    run(cluster, "gnt-cluster", "verify")

    n1, n2 = cluster.node(1).name, cluster.node(2).name
    banner("Instances on the fake hypervisor")
    run(cluster, "gnt-instance", "add", "-t", "file", "--disk",
        "0:size=64M", "-o", "ganeti-demo-os+minimal",
        "-O", "hostname_prefix=web", "--net",
        "0:mode=routed,ip=198.51.100.10", "-n", n1, "--no-name-check",
        "--no-ip-check", "web1.demo.example")
    run(cluster, "gnt-instance", "add", "-t", "diskless", "--no-nics",
        "-o", "ganeti-demo-os+minimal", "-B", "memory=256", "-n", n2,
        "--no-name-check", "--no-ip-check", "db1.demo.example")
    run(cluster, "gnt-instance", "list")
    run(cluster, "gnt-instance", "info", "web1.demo.example")
    run(cluster, "gnt-instance", "migrate", "-f", "db1.demo.example")
    run(cluster, "gnt-instance", "shutdown", "web1.demo.example")
    run(cluster, "gnt-instance", "reinstall", "-f", "-O",
        "hostname_prefix=www", "web1.demo.example")
    run(cluster, "gnt-instance", "startup", "web1.demo.example")
    run(cluster, "gnt-instance", "list", "-o",
        "name,pnode,status,oper_ram,disk_template")
    rc = run(cluster, "gnt-instance", "add", "-t", "diskless", "--net",
             "0:mode=routed", "-o", "ganeti-demo-os+minimal", "-n", n1,
             "--no-name-check", "--no-ip-check", "bad.demo.example",
             check=False)
    print(f"(a routed NIC without an IP is refused: exit code {rc})")

    banner("Jobs")
    run(cluster, "gnt-debug", "delay", "--submit", "0.2")
    run(cluster, "gnt-job", "list")
    run(cluster, "gnt-cluster", "verify")

    if opts.stop:
        banner("Stopping the cluster")
        for line in cluster.stop():
            print(f"stopped {line}")
    banner("Done")
    env_file = os.path.join(base, localcluster.ENV_FILE)
    if opts.stop:
        print(f"All state is under {base}.")
    else:
        print(f"The cluster keeps running. '. {env_file}' points the gnt-* "
              f"commands at it; 'tools/local-cluster stop {base}' stops it.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
