# The C engine of ganeti.http.fanout (_fanout.c).
from collections.abc import Sequence

class Engine:
    connections_opened: int

    def __init__(self, cert_file: str, ca_pem: bytes, pins: Sequence[bytes],
                 connect_timeout: float, max_idle_age: float,
                 max_response: int) -> None: ...
    def request_many(
        self, requests: Sequence[tuple[str, int, bytes, bytes, float]]
    ) -> list[tuple[int, bytes, float] | tuple[str, str, int, float]]: ...
    def close(self) -> None: ...
    def drop_idle(self) -> None: ...
