"""The OS definition interface, node side.

Ganeti-compatible OS definitions (API 10, 15 and 20): finding and
validating them (:mod:`~ganeti.osdef.definition`), building the
environment their scripts get (:mod:`~ganeti.osdef.environment`) and
running the scripts (:mod:`~ganeti.osdef.scripts`).  The design note is
``doc/design/os-interface.rst``; the interface OS authors write to is
``doc/man/ganeti-os-interface.rst``.
"""

from ganeti.osdef.definition import (
    SUPPORTED_API_VERSIONS,
    InvalidOS,
    OsDefinition,
    OsDiagnosis,
    find_os,
    list_os,
    load_os,
    require_variant,
    required_scripts,
    resolve_variant,
)
from ganeti.osdef.environment import (
    SCRIPT_PATH,
    check_os_parameters,
    os_environment,
    os_param_var,
    verify_environment,
)
from ganeti.osdef.scripts import (
    LOG_TAIL_LINES,
    VERIFY_TIMEOUT,
    OsScriptResult,
    create_instance,
    export_instance,
    import_instance,
    rename_instance,
    run_os_script,
    verify_parameters,
)

__all__ = [
    "LOG_TAIL_LINES",
    "SCRIPT_PATH",
    "SUPPORTED_API_VERSIONS",
    "VERIFY_TIMEOUT",
    "InvalidOS",
    "OsDefinition",
    "OsDiagnosis",
    "OsScriptResult",
    "check_os_parameters",
    "create_instance",
    "export_instance",
    "find_os",
    "import_instance",
    "list_os",
    "load_os",
    "os_environment",
    "os_param_var",
    "rename_instance",
    "require_variant",
    "required_scripts",
    "resolve_variant",
    "run_os_script",
    "verify_environment",
    "verify_parameters",
]
