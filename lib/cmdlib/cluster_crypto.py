"""``gnt-cluster renew-crypto``: new cluster certificate, RAPI
certificate, confd HMAC key and cluster domain secret
(``doc/design/renew-crypto.rst``).

The cluster certificate is what every node daemon presents and requires
(mutual TLS), so it is replaced in three fan-out steps through
:mod:`ganeti.rpc.calls.crypto`: *stage* (every node accepts old and
new), *switch* (every node presents the new one, still accepting both),
*finish* (only the new one is accepted).  Between any two steps every
pair of cluster members can talk, whichever of them has done the step:
the master's own RPC client follows its node's files
(:class:`ganeti.http.tlsreload.CertFiles`).  A step that fails on a node
stops the renewal where it is; nothing is lost, and running the command
again completes it.

The RAPI certificate, the HMAC key and the domain secret are written on
the master and
redistributed like ``gnt-cluster redist-conf`` does; the RAPI daemon
serves a new certificate from its next connection on.
"""

from __future__ import annotations

from typing import Any

from ganeti import bootstrap, crypto, errors, opcodes, pathutils, redist
from ganeti.cmdlib.base import Feedback, LockRequest, NoHooksLU
from ganeti.rpc.result import RpcResult
from ganeti.utils import io


def _failures(results: dict[str, RpcResult]) -> list[str]:
    return [f"{node}: {res.fail_msg}" for node, res in sorted(results.items())
            if res.fail_msg is not None]


class LUClusterRenewCrypto(NoHooksLU):
    """Renew the certificates and keys the options name."""

    OP = opcodes.OpClusterRenewCrypto
    op: opcodes.OpClusterRenewCrypto

    def expand_names(self) -> LockRequest:
        return LockRequest(bgl_shared=False)

    def check_prereq(self) -> None:
        op = self.op
        if op.new_rapi_certificate and op.rapi_certificate is not None:
            raise errors.OpPrereqError(
                "Only one of the --new-rapi-certificate and "
                "--rapi-certificate options can be given",
                errors.ErrorCode.INVAL)
        if op.new_cluster_domain_secret and \
                op.cluster_domain_secret is not None:
            raise errors.OpPrereqError(
                "Only one of the --new-cluster-domain-secret and "
                "--cluster-domain-secret options can be given",
                errors.ErrorCode.INVAL)
        if not (op.new_cluster_certificate or op.new_rapi_certificate
                or op.rapi_certificate is not None or op.new_confd_hmac_key
                or op.new_cluster_domain_secret
                or op.cluster_domain_secret is not None):
            raise errors.OpPrereqError("Nothing to renew: give at least one "
                                       "option", errors.ErrorCode.INVAL)
        self.domain_secret: str | None = None
        if op.cluster_domain_secret is not None:
            self.domain_secret = crypto.check_domain_secret(
                op.cluster_domain_secret, "The cluster domain secret")
        self.rapi_pem: tuple[bytes, bytes] | None = None
        if op.rapi_certificate is not None:
            try:
                self.rapi_pem = crypto.split_pem(
                    op.rapi_certificate.encode("utf-8", "replace"),
                    "The RAPI certificate")
            except errors.GenericError as err:
                raise errors.OpPrereqError(str(err),
                                           errors.ErrorCode.INVAL) from None
        self.nodes = [n.name for n in self.cfg.get_online_nodes()]
        self.offline = sorted(set(self.cfg.node_names()) - set(self.nodes))

    def execute(self, feedback: Feedback) -> Any:
        op = self.op
        paths = pathutils.get()
        if op.new_cluster_certificate:
            self._renew_cluster_certificate(feedback)
        if op.new_rapi_certificate:
            self.rapi_pem = crypto.generate_self_signed(bootstrap.CERT_CN)
        if self.rapi_pem is not None:
            crypto.write_pem_file(paths.rapi_cert_file, *self.rapi_pem)
            feedback("RAPI certificate replaced (fingerprint "
                     f"{crypto.cert_fingerprint(self.rapi_pem[1])[:16]}...)")
        if op.new_confd_hmac_key:
            io.write_file_atomic(paths.confd_hmac_key,
                                 crypto.generate_hmac_key(), mode=0o400)
            feedback("Confd HMAC key replaced")
        if op.new_cluster_domain_secret:
            self.domain_secret = crypto.generate_domain_secret()
        if self.domain_secret is not None:
            bootstrap.write_domain_secret(paths, self.domain_secret)
            feedback("Cluster domain secret replaced")
        if self.rapi_pem is not None or op.new_confd_hmac_key \
                or self.domain_secret is not None:
            redist.distribute_files(self.ctx, include_config=False,
                                    feedback=feedback)
        return None

    def _renew_cluster_certificate(self, feedback: Feedback) -> None:
        nodes = self.nodes
        if self.offline:
            feedback("Offline nodes keep the old cluster certificate and "
                     "must get the new one before they return: "
                     + ", ".join(self.offline))
        key_pem, cert_pem = crypto.generate_self_signed(bootstrap.CERT_CN)
        fingerprint = crypto.cert_fingerprint(cert_pem)
        data = redist.encode_data(key_pem.rstrip(b"\n") + b"\n" + cert_pem)
        failed = _failures(self.rpc.call_cluster_cert_stage(nodes, data))
        if failed:
            self.rpc.call_cluster_cert_abort(nodes)
            raise errors.OpExecError(
                "Cannot stage the new cluster certificate, nothing changed: "
                + "; ".join(failed))
        feedback(f"New cluster certificate {fingerprint[:16]}... staged on "
                 f"{len(nodes)} node(s)")
        failed = _failures(self.rpc.call_cluster_cert_switch(nodes, fingerprint))
        if failed:
            raise errors.OpExecError(
                "Switching to the new cluster certificate failed on "
                + "; ".join(failed) + ". Every node still accepts both "
                "certificates; run the command again")
        feedback("Every node presents the new cluster certificate")
        failed = _failures(self.rpc.call_cluster_cert_finish(nodes, fingerprint))
        if failed:
            feedback("Warning: these nodes still accept the old certificate "
                     "too: " + "; ".join(failed))
        else:
            feedback("The old cluster certificate is no longer accepted")
