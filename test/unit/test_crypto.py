"""Cluster certificates: generation, PEM files, fingerprints, HMAC key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ganeti import crypto, errors


@pytest.mark.parametrize("key_type", ["ec", "rsa"])
def test_generate_and_round_trip(tmp_path: Path, key_type: crypto.KeyType) -> None:
    key_pem, cert_pem = crypto.generate_self_signed("cluster.example.com",
                                                    validity_days=30,
                                                    key_type=key_type)
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.subject == cert.issuer
    assert "cluster.example.com" in cert.subject.rfc4514_string()
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert 30 <= lifetime.days <= 31
    path = str(tmp_path / "server.pem")
    crypto.write_pem_file(path, key_pem, cert_pem)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o400
    assert crypto.load_pem_file(path) == (key_pem, cert_pem)
    assert crypto.load_cert_file(path) == cert_pem


def test_fingerprint_is_sha256_of_der() -> None:
    _key, cert_pem = crypto.generate_self_signed("a", validity_days=1)
    fp = crypto.cert_fingerprint(cert_pem)
    assert len(fp) == 64 and int(fp, 16) >= 0
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(
        serialization.Encoding.DER)
    assert crypto.der_fingerprint(der) == fp
    _key2, other = crypto.generate_self_signed("a", validity_days=1)
    assert crypto.cert_fingerprint(other) != fp


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(errors.OpExecError, match="No such file") as info:
        crypto.load_pem_file(str(tmp_path / "nope.pem"))
    assert str(tmp_path / "nope.pem") in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", [
    b"",
    b"hello",
    b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
])
def test_corrupt_or_incomplete_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "server.pem"
    path.write_bytes(content)
    with pytest.raises(errors.OpExecError) as info:
        crypto.load_pem_file(str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_garbled_base64_is_corrupt(tmp_path: Path) -> None:
    key_pem, cert_pem = crypto.generate_self_signed("c", validity_days=1)
    broken = cert_pem.replace(cert_pem.splitlines()[3], b"@@@@" * 16)
    path = tmp_path / "server.pem"
    path.write_bytes(key_pem + broken)
    with pytest.raises(errors.OpExecError, match="corrupt"):
        crypto.load_pem_file(str(path))


def test_key_must_match_certificate(tmp_path: Path) -> None:
    key_pem, _cert = crypto.generate_self_signed("c", validity_days=1)
    _key, other_cert = crypto.generate_self_signed("c", validity_days=1)
    path = str(tmp_path / "server.pem")
    crypto.write_pem_file(path, key_pem, other_cert, mode=0o600)
    with pytest.raises(errors.OpExecError, match="does not match"):
        crypto.load_pem_file(path)


def test_bad_requests_are_programmer_errors() -> None:
    with pytest.raises(errors.ProgrammerError):
        crypto.generate_self_signed("", validity_days=1)
    with pytest.raises(errors.ProgrammerError):
        crypto.generate_self_signed("c", validity_days=0)


def test_hmac_key() -> None:
    key = crypto.generate_hmac_key()
    assert key.endswith("\n") and len(key.strip()) == 64
    int(key, 16)
    assert crypto.generate_hmac_key() != key
