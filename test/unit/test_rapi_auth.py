"""The RAPI users file and the access decision (no server involved)."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from pathlib import Path

import pytest

from ganeti import http
from ganeti.rapi import auth, users

USERS_TEXT = """\
# read-only users
jack abc123
fred {cleartext}foo555
   # indented comment

reader {CLEARTEXT}pw read
writer {ha1}HASH write
both pw2 read,write
"""


def ha1_of(user: str, password: str) -> str:
    return hashlib.md5(f"{user}:Ganeti Remote API:{password}".encode()
                       ).hexdigest()


def users_text() -> str:
    return USERS_TEXT.replace("HASH", ha1_of("writer", "secret").upper())


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# --- parsing --------------------------------------------------------------------

def test_parse_schemes_and_options() -> None:
    found, problems = users.parse_users(users_text())
    assert problems == []
    assert sorted(found) == ["both", "fred", "jack", "reader", "writer"]
    assert found["jack"].scheme == users.SCHEME_CLEARTEXT
    assert found["jack"].options == frozenset()
    assert found["fred"].check_password("foo555")
    assert found["reader"].check_password("pw")
    assert found["reader"].options == {"read"}
    assert found["writer"].scheme == users.SCHEME_HA1
    assert found["writer"].options == {"write"}
    assert found["both"].options == {"read", "write"}


def test_passwords_are_checked() -> None:
    found, _ = users.parse_users(users_text())
    assert found["jack"].check_password("abc123")
    assert not found["jack"].check_password("abc1234")
    assert not found["jack"].check_password("")
    assert found["writer"].check_password("secret")
    assert not found["writer"].check_password("Secret")
    # The stored form of a hashed password is not a password.
    assert not found["writer"].check_password(ha1_of("writer", "secret"))


def test_ha1_matches_the_documented_recipe() -> None:
    # echo -n 'jack:Ganeti Remote API:abc123' | md5sum
    assert users.ha1("jack", "abc123") == ha1_of("jack", "abc123")


def test_bad_lines_are_reported_and_skipped() -> None:
    text = ("lonely\n"
            "too many fields here x\n"
            "odd {sha}abc\n"
            "short {HA1}abcd\n"
            "brace {unclosed\n"
            "ok pw write,admin\n"
            "ok pw2\n")
    found, problems = users.parse_users(text)
    assert [p.line for p in problems] == [1, 2, 3, 4, 5, 6, 7]
    messages = [str(p) for p in problems]
    assert "line 1: expected 'user password [options]'" in messages[0]
    assert "unknown password scheme {sha}" in messages[2]
    assert "32 hexadecimal digits" in messages[3]
    assert "unknown option 'admin' ignored" in messages[5]
    assert "listed again" in messages[6]
    assert list(found) == ["ok"]
    assert found["ok"].check_password("pw2")  # the later line wins
    for problem in messages:  # passwords never appear in reports
        assert "abcd" not in problem and "pw2" not in problem


def test_user_access() -> None:
    found, _ = users.parse_users(users_text())
    assert found["writer"].may(["read"])
    assert found["writer"].may(["write"])
    assert found["reader"].may(["read"]) and not found["reader"].may(["write"])
    assert not found["jack"].may(["read", "write"])


def test_write_users_file_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "rapi_users")
    users.write_users_file(path, [("alice", "s3cret", ["write"]),
                                  ("bob", "pw", [])])
    assert os.stat(path).st_mode & 0o777 == 0o640
    text = Path(path).read_text()
    assert "s3cret" not in text
    found, problems = users.parse_users(text)
    assert problems == []
    assert found["alice"].check_password("s3cret")
    assert found["alice"].options == {"write"}
    assert found["bob"].check_password("pw")
    users.write_users_file(path, [("carol", "x y", [])])
    assert users.parse_users(Path(path).read_text())[0]["carol"] \
        .check_password("x y")


def test_create_user_file(tmp_path: Path) -> None:
    path = str(tmp_path / "rapi_users")
    password = users.create_user_file(path, "ganeti-rapi")
    assert len(password) >= 20
    found, _ = users.parse_users(Path(path).read_text())
    assert found["ganeti-rapi"].check_password(password)
    assert found["ganeti-rapi"].options == {"write"}
    assert users.create_user_file(path, "ganeti-rapi") != password


# --- the file, reloaded -------------------------------------------------------

def test_generated_passwords_never_start_with_a_dash(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A password after ``--password`` on a command line would be taken
    for an option (gnt-monitoring refused one in CI)."""
    drawn = iter(["-starts-with-a-dash", "_fine-one"])
    monkeypatch.setattr(users.secrets, "token_urlsafe",
                        lambda _n: next(drawn))
    assert users.generate_password() == "_fine-one"
    monkeypatch.undo()
    assert not any(users.generate_password().startswith("-")
                   for _ in range(500))


def test_users_file_reloads_on_change(tmp_path: Path) -> None:
    path = str(tmp_path / "rapi_users")
    store = auth.UsersFile(path)
    assert store.users() == {}  # missing: nobody
    users.write_users_file(path, [("a", "1", [])])
    assert list(store.users()) == ["a"]
    first = store.users()
    assert store.users() is first  # unchanged: not re-read
    users.write_users_file(path, [("b", "2", ["write"])])
    assert list(store.users()) == ["b"]
    os.unlink(path)
    assert store.users() == {}


def test_users_file_rewritten_in_place(tmp_path: Path) -> None:
    path = tmp_path / "rapi_users"
    path.write_text("a pw\n")
    store = auth.UsersFile(str(path))
    assert list(store.users()) == ["a"]
    with open(path, "a") as handle:  # same inode, new size
        handle.write("b pw\n")
    assert sorted(store.users()) == ["a", "b"]


def test_explicit_reload(tmp_path: Path) -> None:
    path = tmp_path / "rapi_users"
    path.write_text("a pw\n")
    store = auth.UsersFile(str(path))
    assert list(store.users()) == ["a"]
    stat = os.stat(path)
    path.write_text("b pw\n")  # same size and inode, old times restored
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    store.reload()  # what SIGHUP does
    assert list(store.users()) == ["b"]


# --- the access decision ---------------------------------------------------

@pytest.fixture
def authenticator(tmp_path: Path) -> auth.Authenticator:
    path = tmp_path / "rapi_users"
    path.write_text(users_text())
    return auth.Authenticator(auth.UsersFile(str(path)))


def refused(authn: auth.Authenticator, headers: dict[str, str],
            access: tuple[str, ...]) -> http.HttpError:
    with pytest.raises(http.HttpError) as info:
        authn.check(headers, access, "127.0.0.1")
    return info.value


def test_reads_are_anonymous_by_default(authenticator: auth.Authenticator
                                        ) -> None:
    assert authenticator.check({}, (), "127.0.0.1") is None
    # Credentials are not even looked at where none are needed.
    assert authenticator.check(basic("jack", "wrong"), (), "x") is None


def test_writes_need_credentials(authenticator: auth.Authenticator) -> None:
    err = refused(authenticator, {}, ("write",))
    assert err.status == 401
    assert err.headers == {"WWW-Authenticate":
                           'Basic realm="Ganeti Remote API"'}
    err = refused(authenticator, basic("writer", "wrong"), ("write",))
    assert err.status == 401 and "WWW-Authenticate" in err.headers
    err = refused(authenticator, basic("nobody", "x"), ("write",))
    assert err.status == 401
    for header in ("Basic !!!", "Digest abc", "Basic " +
                   base64.b64encode(b"no-colon").decode()):
        assert refused(authenticator, {"Authorization": header},
                       ("write",)).status == 401


def test_read_only_user_writing_is_403(authenticator: auth.Authenticator
                                       ) -> None:
    err = refused(authenticator, basic("jack", "abc123"), ("write",))
    assert err.status == 403
    assert "jack" in err.message
    err = refused(authenticator, basic("reader", "pw"), ("write",))
    assert err.status == 403


def test_write_users_pass(authenticator: auth.Authenticator) -> None:
    assert authenticator.check(basic("writer", "secret"), ("write",),
                               "x") == "writer"
    assert authenticator.check(basic("both", "pw2"), ("write",), "x") == "both"


def test_require_authentication(authenticator: auth.Authenticator) -> None:
    authenticator.require_authentication = True
    assert refused(authenticator, {}, ()).status == 401
    assert authenticator.check(basic("reader", "pw"), (), "x") == "reader"
    assert authenticator.check(basic("writer", "secret"), (), "x") == "writer"
    # A user with neither read nor write may not read.
    assert refused(authenticator, basic("jack", "abc123"), ()).status == 403


def test_failed_login_is_logged_without_password(
        authenticator: auth.Authenticator,
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ganeti.rapi.auth"):
        refused(authenticator, basic("writer", "hunter2-guess"), ("write",))
    assert "writer" in caplog.text
    assert "hunter2-guess" not in caplog.text
