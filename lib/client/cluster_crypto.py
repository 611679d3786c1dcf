"""``gnt-cluster renew-crypto``: renew the cluster certificate, the RAPI
certificate and the confd HMAC key (see gnt-cluster(8) and
``doc/design/renew-crypto.rst``)."""

from __future__ import annotations

import argparse
from typing import Final

from ganeti import cli, crypto, errors, opcodes
from ganeti.utils import io

NEW_CLUSTER_CERT_OPT: Final = cli.cli_option(
    "--new-cluster-certificate", dest="new_cluster_cert", action="store_true",
    default=False, help="Generate a new cluster certificate")
RAPI_CERT_OPT: Final = cli.cli_option(
    "--rapi-certificate", dest="rapi_cert", default=None, metavar="FILE",
    help="File containing new RAPI certificate (key and certificate, PEM)")
NEW_RAPI_CERT_OPT: Final = cli.cli_option(
    "--new-rapi-certificate", dest="new_rapi_cert", action="store_true",
    default=False, help="Generate a new self-signed RAPI certificate")
NEW_HMAC_KEY_OPT: Final = cli.cli_option(
    "--new-confd-hmac-key", dest="new_confd_hmac_key", action="store_true",
    default=False, help="Create a new HMAC key for the confd daemon")


def renew_crypto(opts: argparse.Namespace, args: list[str]) -> int:
    """Renew the certificates and keys the options name, on every node."""
    if opts.new_rapi_cert and opts.rapi_cert:
        raise errors.UsageError("Only one of the --new-rapi-certificate and "
                                "--rapi-certificate options can be given")
    rapi_pem = None
    if opts.rapi_cert:
        try:
            data = io.read_bytes(opts.rapi_cert)
        except errors.GenericError as err:
            raise errors.OpPrereqError(str(err), errors.ErrorCode.INVAL) from None
        try:
            crypto.split_pem(data, f"RAPI certificate file {opts.rapi_cert}")
        except errors.GenericError as err:
            raise errors.OpPrereqError(str(err), errors.ErrorCode.INVAL) from None
        rapi_pem = data.decode("ascii", "replace")
    op = opcodes.OpClusterRenewCrypto(
        new_cluster_certificate=opts.new_cluster_cert,
        new_rapi_certificate=opts.new_rapi_cert, rapi_certificate=rapi_pem,
        new_confd_hmac_key=opts.new_confd_hmac_key)
    if not (op.new_cluster_certificate or op.new_rapi_certificate
            or rapi_pem or op.new_confd_hmac_key):
        raise errors.UsageError("Nothing to renew: give at least one of "
                                "--new-cluster-certificate, "
                                "--new-rapi-certificate, --rapi-certificate, "
                                "--new-confd-hmac-key")
    if not opts.force and not cli.confirm(
            "This replaces the selected certificates and keys on every node "
            "(the daemons keep running). Continue?"):
        cli.to_stderr("Not renewing anything (confirm with -f)")
        return errors.EXIT_CONFIRMATION
    cli.submit_opcode(op, opts=opts)
    return errors.EXIT_SUCCESS


COMMANDS: Final[dict[str, cli.Command]] = {
    "renew-crypto": cli.Command(
        renew_crypto, cli.ARGS_NONE,
        (NEW_CLUSTER_CERT_OPT, NEW_RAPI_CERT_OPT, RAPI_CERT_OPT,
         NEW_HMAC_KEY_OPT, cli.FORCE_OPT, cli.SUBMIT_OPT),
        "[-f] [--new-cluster-certificate] [--new-rapi-certificate |"
        " --rapi-certificate FILE] [--new-confd-hmac-key]",
        "Renew the cluster's certificates and keys"),
}
