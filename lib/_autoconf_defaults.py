"""Settings used when running from a checkout, where configure has not run.

configure writes ``_autoconf.py`` with the same names; :mod:`pathutils`
prefers that module when it exists.
"""

PACKAGE_VERSION = "2.1.0"
PREFIX = "/usr/local"
SYSCONFDIR = "/etc"
LOCALSTATEDIR = "/var"
OS_SEARCH_PATH = "/srv/ganeti/os"
IALLOCATOR_SEARCH_PATH = "/usr/lib/ganeti/iallocators:/usr/local/lib/ganeti/iallocators"
FILE_STORAGE_DIR = "/srv/ganeti/file-storage"
EXPORT_DIR = "/srv/ganeti/export"
SBINDIR = "/usr/local/sbin"
DAEMON_GROUP = "root"
