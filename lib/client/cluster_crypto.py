"""``gnt-cluster renew-crypto``: renew the cluster certificate, the RAPI
certificate, the confd HMAC key and the cluster domain secret (see gnt-cluster(8) and
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
NEW_CDS_OPT: Final = cli.cli_option(
    "--new-cluster-domain-secret", dest="new_cluster_domain_secret",
    action="store_true", default=False,
    help="Create a new cluster domain secret")
CDS_OPT: Final = cli.cli_option(
    "--cluster-domain-secret", dest="cluster_domain_secret", default=None,
    metavar="FILE", help="Load a new cluster domain secret from FILE")


def _read(path: str, what: str) -> bytes:
    try:
        return io.read_bytes(path)
    except errors.GenericError as err:
        raise errors.OpPrereqError(f"{what}: {err}",
                                   errors.ErrorCode.INVAL) from None


def renew_crypto(opts: argparse.Namespace, args: list[str]) -> int:
    """Renew the certificates and keys the options name, on every node."""
    if opts.new_rapi_cert and opts.rapi_cert:
        raise errors.UsageError("Only one of the --new-rapi-certificate and "
                                "--rapi-certificate options can be given")
    if opts.new_cluster_domain_secret and opts.cluster_domain_secret:
        raise errors.UsageError("Only one of the --new-cluster-domain-secret"
                                " and --cluster-domain-secret options can be"
                                " given")
    rapi_pem = None
    if opts.rapi_cert:
        data = _read(opts.rapi_cert, "RAPI certificate")
        try:
            crypto.split_pem(data, f"RAPI certificate file {opts.rapi_cert}")
        except errors.GenericError as err:
            raise errors.OpPrereqError(str(err), errors.ErrorCode.INVAL) from None
        rapi_pem = data.decode("ascii", "replace")
    secret = None
    if opts.cluster_domain_secret:
        path = opts.cluster_domain_secret
        secret = crypto.check_domain_secret(
            _read(path, "Cluster domain secret").decode("utf-8", "replace"),
            f"Cluster domain secret file {path}")
    op = opcodes.OpClusterRenewCrypto(
        new_cluster_certificate=opts.new_cluster_cert,
        new_rapi_certificate=opts.new_rapi_cert, rapi_certificate=rapi_pem,
        new_confd_hmac_key=opts.new_confd_hmac_key,
        new_cluster_domain_secret=opts.new_cluster_domain_secret,
        cluster_domain_secret=secret)
    if not (op.new_cluster_certificate or op.new_rapi_certificate
            or rapi_pem or op.new_confd_hmac_key
            or op.new_cluster_domain_secret or secret):
        raise errors.UsageError("Nothing to renew: give at least one of "
                                "--new-cluster-certificate, "
                                "--new-rapi-certificate, --rapi-certificate, "
                                "--new-confd-hmac-key, "
                                "--new-cluster-domain-secret, "
                                "--cluster-domain-secret")
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
         NEW_HMAC_KEY_OPT, NEW_CDS_OPT, CDS_OPT, cli.FORCE_OPT,
         cli.SUBMIT_OPT),
        "[-f] [--new-cluster-certificate] [--new-rapi-certificate |"
        " --rapi-certificate FILE] [--new-confd-hmac-key]"
        " [--new-cluster-domain-secret | --cluster-domain-secret FILE]",
        "Renew the cluster's certificates and keys"),
}
