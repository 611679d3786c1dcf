"""Writing this node's simple store files."""

from __future__ import annotations

from ganeti import ssconf
from ganeti.backend import handler


@handler("write_ssconf_files")
def write_ssconf_files(values: dict[str, str]) -> None:
    ssconf.write_files(values)
