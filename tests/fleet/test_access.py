"""Tokens and scopes through a real `venvd serve` process and the real `venvd` CLI, the token
store on SQLite and PostgreSQL, and the start-up rule (tokens needed off loopback)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fleet._access_support import (  # noqa: F401  (fixtures)
    PY_TARGET,
    ServeProcess,
    free_port,
    serve_fixture,
    small_index_fixture,
    token_store_fixture,
    venvd,
)
from tests.support.environments import wait_finished
from tests.support.index_server import LocalIndex
from venvd.api._auth import auth_required, is_loopback
from venvd.errors import Forbidden, InputError, NotFound, Unauthorized, error_class
from venvd.store import Store, Tokens, scope_allows
from venvd.store._tokens import hash_token

RESOLVE = {"requirements": ["app"], "target": PY_TARGET}


def _create_token(data_dir: Path, name: str, scope: str) -> str:
    done = venvd("token", "create", "--name", name, "--scope", scope, "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    secret = done.stdout.strip()
    assert secret.startswith("venvd_") and len(secret) > 40
    assert "shown only now" in done.stderr
    return secret


def _error(response: object) -> dict:
    doc = response.json()["error"]  # type: ignore[attr-defined]
    assert set(doc) == {"code", "message", "details"}
    return doc


def test_scoped_tokens_on_a_served_api(tmp_path: Path, small_index: LocalIndex,
                                       serve: Callable[..., ServeProcess]) -> None:
    data = tmp_path / "data"
    read = _create_token(data, "reader", "read")
    build = _create_token(data, "ci", "build")
    server = serve(data, small_index, "--auth", "required")

    with server.client() as anonymous:
        missing = anonymous.post("/v1/resolve", json=RESOLVE)
        assert missing.status_code == 401
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        error = _error(missing)
        assert error["code"] == "unauthorized"
        assert error["details"]["request_id"] == missing.headers["X-Request-Id"]
        assert anonymous.get("/v1/environments/nope").status_code == 401
        assert anonymous.get("/metrics").status_code == 401
        # Open without a token: liveness, readiness, the docs.
        for path in ("/v1/health", "/v1/ready", "/docs", "/openapi.json"):
            assert anonymous.get(path).status_code == 200, path
    with server.client("venvd_not-a-real-token") as wrong:
        assert _error(wrong.post("/v1/resolve", json=RESOLVE))["code"] == "unauthorized"
    with server.client("Bearer") as garbage:
        assert garbage.post("/v1/resolve", json=RESOLVE).status_code == 401

    with server.client(read) as reader:
        assert reader.post("/v1/resolve", json=RESOLVE).status_code == 200
        forbidden = reader.post("/v1/environments", json=RESOLVE)
        assert forbidden.status_code == 403
        error = _error(forbidden)
        assert error["code"] == "forbidden"
        assert error["details"]["needed"] == "build" and error["details"]["scope"] == "read"
        assert reader.get("/metrics").status_code == 200
        assert reader.get("/v1/environments/nope").status_code == 404  # past auth, then unknown

    with server.client(build) as builder:
        created = builder.post("/v1/environments", json=RESOLVE)
        assert created.status_code in (200, 202), created.text
        env_id = created.json()["id"]
        assert builder.get(f"/v1/environments/{env_id}").status_code == 200

    # Tokens over HTTP: admin only; the secret in the creation answer only; revoked at once here.
    admin = _create_token(data, "root", "admin")
    with server.client(build) as builder:
        assert _error(builder.get("/v1/tokens"))["details"]["needed"] == "admin"
    with server.client(admin) as administrator:
        made = administrator.post("/v1/tokens", json={"name": "deploy", "scope": "read"})
        assert made.status_code == 201, made.text
        deploy = made.json()["token"]
        assert administrator.post("/v1/tokens", json={"name": "deploy", "scope": "read"}
                                  ).status_code == 400
        assert administrator.post("/v1/tokens", json={"name": "x", "scope": "root"}
                                  ).status_code == 422
        listed = administrator.get("/v1/tokens")
        assert [t["name"] for t in listed.json()] == ["reader", "ci", "root", "deploy"]
        assert "venvd_" not in listed.text
        with server.client(deploy) as deployer:
            assert deployer.post("/v1/resolve", json=RESOLVE).status_code == 200
            assert administrator.delete("/v1/tokens/deploy").json()["revoked_at"]
            assert deployer.post("/v1/resolve", json=RESOLVE).status_code == 401
        assert administrator.delete("/v1/tokens/deploy").status_code == 404

    # The OpenAPI document shows the bearer scheme on the guarded routes only.
    with server.client() as anonymous:
        document = anonymous.get("/openapi.json").json()
    assert "token" in document["components"]["securitySchemes"]
    assert document["paths"]["/v1/environments"]["post"]["security"] == [{"token": []}]
    assert "security" not in document["paths"]["/v1/health"]["get"]
    assert "401" in document["paths"]["/v1/resolve"]["post"]["responses"]

    # The CLI sends VENVD_TOKEN (or --token); without it, one line and exit 4.
    env = {"VENVD_SERVER": server.url}
    refused = venvd("resolve", "app", "--python", "3.11", "--platform", "manylinux_2_28_x86_64",
                    env=env)
    assert refused.returncode == 4, refused.stderr
    assert refused.stderr.count("\n") == 1 and "needs a token" in refused.stderr
    allowed = venvd("resolve", "app", "--python", "3.11", "--platform", "manylinux_2_28_x86_64",
                    env={**env, "VENVD_TOKEN": read})
    assert allowed.returncode == 0, allowed.stderr
    assert '"name": "lib"' in allowed.stdout
    by_option = venvd("resolve", "app", "--python", "3.11", "--platform",
                      "manylinux_2_28_x86_64", "--token", read, env=env)
    assert by_option.returncode == 0, by_option.stderr

    # Revoked in the store (another process): refused on the server within its cache time.
    revoked = venvd("token", "revoke", "ci", "--data-dir", str(data))
    assert revoked.returncode == 0, revoked.stderr
    deadline = time.monotonic() + 15
    with server.client(build) as builder:
        while builder.get(f"/v1/environments/{env_id}").status_code != 401:
            assert time.monotonic() < deadline, "a revoked token is still accepted"
            time.sleep(0.2)
    # Used tokens have a last_used_at; the list never shows a secret.
    listing = venvd("token", "list", "--all", "--json", "--data-dir", str(data))
    assert listing.returncode == 0 and read not in listing.stdout and build not in listing.stdout
    assert "venvd_" not in listing.stdout


def test_loopback_needs_no_token_by_default(tmp_path: Path, small_index: LocalIndex,
                                            serve: Callable[..., ServeProcess]) -> None:
    data = tmp_path / "data"
    _create_token(data, "ci", "build")  # tokens existing do not change the loopback rule
    server = serve(data, small_index)
    with server.client() as anonymous:
        created = anonymous.post("/v1/environments", json=RESOLVE)
        assert created.status_code in (200, 202), created.text
        assert anonymous.get("/metrics").status_code == 200


def test_a_public_address_without_tokens_refuses_to_start(tmp_path: Path,
                                                          small_index: LocalIndex) -> None:
    data = tmp_path / "data"
    port = free_port()
    started = time.monotonic()
    # The check runs before anything binds: nothing listens on 0.0.0.0 at any point.
    refused = venvd("serve", "--host", "0.0.0.0", "--port", str(port), "--data-dir", str(data),
                    "--index-url", small_index.url, timeout=60)
    assert refused.returncode == 4
    assert "refusing to serve on 0.0.0.0" in refused.stderr and "--no-auth" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert time.monotonic() - started < 30
    # auth=required on loopback without any token: refused the same way.
    required = venvd("serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir",
                     str(data), "--auth", "required", timeout=60)
    assert required.returncode == 4 and "refusing" in required.stderr


def test_no_auth_overrides_a_required_auth(tmp_path: Path, small_index: LocalIndex,
                                           serve: Callable[..., ServeProcess]) -> None:
    server = serve(tmp_path / "data", small_index, "--auth", "required", "--no-auth")
    with server.client() as anonymous:
        assert anonymous.post("/v1/resolve", json=RESOLVE).status_code == 200


def test_when_tokens_are_enforced() -> None:
    assert not auth_required("auto", "127.0.0.1")
    assert not auth_required("auto", "::1")
    assert not auth_required("auto", "localhost")
    assert not auth_required("auto", None)  # an app without a bind address: embedded use
    assert auth_required("auto", "0.0.0.0")
    assert auth_required("auto", "::")
    assert auth_required("auto", "192.168.1.10")
    assert auth_required("auto", "build.example.org")  # a name may resolve to anything
    assert auth_required("required", "127.0.0.1")
    assert not auth_required("off", "0.0.0.0")  # --no-auth
    assert is_loopback("127.0.0.2") and is_loopback("[::1]") and not is_loopback("0.0.0.0")


def test_scopes_are_ordered() -> None:
    assert scope_allows("admin", "build") and scope_allows("admin", "read")
    assert scope_allows("build", "read") and scope_allows("build", "build")
    assert not scope_allows("build", "admin") and not scope_allows("read", "build")


def test_access_errors_keep_their_type_across_the_wire() -> None:
    assert error_class("unauthorized") is Unauthorized and Unauthorized.http_status == 401
    assert error_class("forbidden") is Forbidden and Forbidden.http_status == 403
    assert Unauthorized.exit_code == Forbidden.exit_code == 4


def test_token_store(token_store: Store) -> None:
    tokens = Tokens(token_store)
    assert not tokens.any_active()
    record, secret = tokens.create("ci", "build")
    assert record.scope == "build" and record.revoked_at is None
    assert tokens.any_active()
    assert tokens.authenticate(secret) == record
    assert tokens.authenticate(secret + "x") is None
    assert tokens.authenticate("not-even-prefixed") is None
    # Only the hash is stored.
    with token_store._session() as s:
        stored = s.execute(sa.text("SELECT token_hash FROM tokens")).scalars().all()
    assert stored == [hash_token(secret)] and secret not in stored
    with pytest.raises(InputError, match="exists"):
        tokens.create("ci", "read")
    with pytest.raises(InputError, match="scope"):
        tokens.create("other", "root")
    with pytest.raises(InputError, match="name"):
        tokens.create("bad name", "read")
    other, other_secret = tokens.create("deploy", "admin")
    assert [t.name for t in tokens.list()] == ["ci", "deploy"]
    assert tokens.revoke("ci").revoked_at is not None
    assert tokens.authenticate(secret) is None
    with pytest.raises(NotFound):
        tokens.revoke("ci")
    # The name is free again; the revoked row stays for the record.
    again, again_secret = tokens.create("ci", "read")
    assert again.id != record.id and tokens.authenticate(again_secret) == again
    assert [t.name for t in tokens.list()] == ["deploy", "ci"]
    assert len(tokens.list(revoked=True)) == 3
    assert tokens.revoke(str(other.id)).name == "deploy"  # by id
    assert tokens.authenticate(other_secret) is None
    tokens.touch(again.id)
    assert tokens.list()[0].last_used_at is not None


def test_token_names_are_unique_among_active_tokens_in_the_database(token_store: Store) -> None:
    # The partial unique index, not only the check in `create`, keeps two active tokens from
    # sharing a name (two creators racing).
    tokens = Tokens(token_store)
    tokens.create("ci", "read")
    with pytest.raises(sa.exc.IntegrityError), token_store._session(write=True) as s:
        s.execute(sa.text("INSERT INTO tokens (name, scope, token_hash, created_at) "
                          "VALUES ('ci', 'read', 'h', CURRENT_TIMESTAMP)"))
    with pytest.raises(sa.exc.IntegrityError), token_store._session(write=True) as s:
        s.execute(sa.text("INSERT INTO tokens (name, scope, token_hash, created_at) "
                          "VALUES ('x', 'root', 'h2', CURRENT_TIMESTAMP)"))


def test_token_cli_errors(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    assert venvd("token", "create", "--name", "a", "--scope", "root", "--data-dir",
                 data).returncode == 2
    assert venvd("token", "create", "--name", "a b", "--scope", "read", "--data-dir",
                 data).returncode == 2
    missing = venvd("token", "revoke", "nobody", "--data-dir", data)
    assert missing.returncode == 1 and missing.stderr.startswith("venvd: error: no active token")
    table = venvd("token", "list", "--data-dir", data)
    assert table.returncode == 0 and table.stdout.startswith("  ID  NAME")


def test_http_client_sends_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from venvd.client import HttpClient

    monkeypatch.setenv("VENVD_TOKEN", "venvd_from-env")
    from_env = HttpClient("http://127.0.0.1:1")
    given = HttpClient("http://127.0.0.1:1", token="venvd_given")
    none = HttpClient("http://127.0.0.1:1", token="")
    try:
        assert from_env._http.headers["Authorization"] == "Bearer venvd_from-env"
        assert given._http.headers["Authorization"] == "Bearer venvd_given"
        assert "Authorization" not in none._http.headers
    finally:
        for client in (from_env, given, none):
            client.close()
    for bad in ("two words", "venvd_\n", "vénvd"):
        with pytest.raises(InputError, match="token"):
            HttpClient("http://127.0.0.1:1", token=bad)


def test_cache_gc_over_http_needs_an_admin_token(tmp_path: Path, small_index: LocalIndex,
                                                 serve: Callable[..., ServeProcess]) -> None:
    data = tmp_path / "data"
    build = _create_token(data, "ci", "build")
    admin = _create_token(data, "root", "admin")
    server = serve(data, small_index, "--auth", "required")
    with server.client(build) as builder:
        created = builder.post("/v1/environments", json=RESOLVE).json()
        assert wait_finished(builder, created["id"])["status"] == "ready"
        refused = builder.post("/v1/gc", json={"max_size": "0"})
        assert refused.status_code == 403 and _error(refused)["details"]["needed"] == "admin"
    with server.client(admin) as administrator:
        for body, field in (({"max_size": "lots"}, "max_size"), ({"older_than": "soon"},
                            "older_than"), ({}, "max_size"), ({"max_size": "0", "x": 1}, None)):
            answer = administrator.post("/v1/gc", json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert field is None or _error(answer)["details"]["field"] == field
        dry = administrator.post("/v1/gc", json={"max_size": "0", "min_age": "0",
                                                 "dry_run": True})
        assert dry.status_code == 200, dry.text
        [report] = dry.json()["reports"]
        artifact = f"environments-v1/{created['id']}.json"  # the recipe: the parts are fragments
        assert report["dry_run"] and artifact in report["keys"]
        assert (data / "cache" / artifact).exists()  # a dry run removes nothing
    # The CLI sends it with --server and an admin token; the artifact goes, the record stays.
    done = venvd("gc", "--server", server.url, "--token", admin, "--max-size", "0",
                 "--min-age", "0")
    assert done.returncode == 0, done.stderr
    assert "removed" in done.stderr and "objects" in done.stderr
    assert not (data / "cache" / artifact).exists()
    with server.client(build) as builder:
        assert builder.get(f"/v1/environments/{created['id']}").status_code == 200
    refused_cli = venvd("gc", "--server", server.url, "--token", build, "--max-size", "0")
    assert refused_cli.returncode == 4 and "admin" in refused_cli.stderr, refused_cli.stderr
