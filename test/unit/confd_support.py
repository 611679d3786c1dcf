"""What the confd unit tests share: a configuration and servers on
loopback (the packet strategies are in ``confd_fuzz``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from confd_fuzz import KEY
from config_builders import make_config

from ganeti import objects
from ganeti.confd.index import ConfigIndex
from ganeti.confd.server import ConfdProcessor, UdpServer


def config_with_ips(instances: int = 6, serial: int = 5) -> objects.ConfigData:
    data = make_config(nodes=3, instances=instances)
    for k, inst in enumerate(sorted(data.instances.values(),
                                    key=lambda i: i.name)):
        inst.nics[0].ip = f"10.1.{k // 250}.{k % 250 + 1}"
    data.serial_no = serial
    return data


@contextmanager
def running_server(index: ConfigIndex | None, key: bytes = KEY,
                   address: tuple[str, int] = ("127.0.0.1", 0)
                   ) -> Iterator[UdpServer]:
    """A UDP server on ``address`` (default: 127.0.0.1, a free port)
    answering from ``index``."""
    server = UdpServer(address, ConfdProcessor(key, index)).start()
    try:
        yield server
    finally:
        server.stop()
