"""OS definition calls: what OSes a node has, one OS's details, and the
OS's own check of parameters (``verify parameters``, API 20)."""

from __future__ import annotations

from collections.abc import Mapping

from ganeti import ht
from ganeti.rpc.defs import Arg, Fanout, RpcCall, Timeout


def _dict_with(desc: str, fields: Mapping[str, ht.Check]) -> ht.Check:
    """A dictionary with exactly ``fields``, each value passing its check."""
    return ht.Check(
        lambda v: isinstance(v, dict) and set(v) == set(fields)
        and all(check(v[k]) for k, check in fields.items()), desc)


#: ``[[name, description], ...]`` from parameters.list.
T_OS_PARAMETERS = ht.TListOf(ht.Check(
    lambda v: isinstance(v, list) and len(v) == 2
    and all(isinstance(x, str) for x in v), "a [name, description] pair"))

#: One directory of the OS search path (``OsDiagnosis.to_dict()``).
T_OS_DIAGNOSIS = _dict_with(
    "an OS diagnosis record (name, path, valid, error, shadowed,"
    " api_versions, variants, parameters)", {
        "name": ht.TNonEmptyString, "path": ht.TNonEmptyString,
        "valid": ht.TBool, "error": ht.TString, "shadowed": ht.TBool,
        "api_versions": ht.TListOf(ht.TPositiveInt),
        "variants": ht.TListOf(ht.TString),
        "parameters": T_OS_PARAMETERS})

#: A valid OS definition (``OsDefinition.to_dict()``).
T_OS_DEFINITION = _dict_with(
    "an OS definition record (name, path, api_versions, api_version,"
    " variants, parameters)", {
        "name": ht.TNonEmptyString, "path": ht.TNonEmptyString,
        "api_versions": ht.TListOf(ht.TPositiveInt),
        "api_version": ht.TPositiveInt,
        "variants": ht.TListOf(ht.TString),
        "parameters": T_OS_PARAMETERS})

#: What ``os_validate`` can check.
OS_VALIDATE_CHECKS = ("parameters",)

CALLS = [
    RpcCall("os_diagnose", Fanout.MULTI, Timeout.FAST, (),
            ht.TListOf(T_OS_DIAGNOSIS),
            "Every OS directory in this node's search path, valid or not"),
    RpcCall("os_get", Fanout.MULTI, Timeout.FAST,
            (Arg("name", ht.TNonEmptyString, "OS name, maybe os+variant"),),
            T_OS_DEFINITION, "The definition of one OS on this node"),
    RpcCall("os_validate", Fanout.MULTI, Timeout.FAST,
            (Arg("required", ht.TBool,
                 "Fail when the OS is missing (else answer false)"),
             Arg("name", ht.TNonEmptyString, "OS name, maybe os+variant"),
             Arg("checks", ht.TListOf(ht.TElemOf(OS_VALIDATE_CHECKS)),
                 "What to check: parameters"),
             Arg("osparams", ht.TDictOf(ht.TString, ht.TAny),
                 "Filled OS parameters")),
            ht.TBool,
            "Have the OS check its parameters; false if the OS is missing"
            " and not required"),
]
