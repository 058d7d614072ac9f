"""API tokens in the metadata database, on SQLite, PostgreSQL and MariaDB: kept hashed, bound to namespaces with a role,
revoked for good."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text, update

from sluiceway.core.access import ANONYMOUS, Principal, Role
from sluiceway.stores.sql import SqlMetadataStore
from sluiceway.stores.sql.models import ApiToken
from sluiceway.stores.sql.store import NotFound
from sluiceway.stores.sql.tokens import TOKEN_PREFIX, SqlTokens, parse


def test_a_token_is_shown_once_and_kept_only_as_a_digest(url):
    store = SqlMetadataStore(url, upgrade=True)
    made = SqlTokens(store).create({"team-a": Role.EDITOR, "team-b": Role.VIEWER}, name="ci")
    token_id, secret = parse(made.token) or ("", "")
    assert made.token.startswith(TOKEN_PREFIX) and token_id == made.record.id and len(secret) >= 43  # 256 bits, base64
    with store.transaction() as session:
        rows = [tuple(map(str, row)) for row in session.execute(text("SELECT * FROM api_tokens"))]
        grants = sorted(tuple(row) for row in session.execute(text("SELECT namespace, role FROM api_token_grants")))
    assert len(rows) == 1 and not any(secret in column for column in rows[0])
    assert hashlib.sha256(secret.encode()).hexdigest() in rows[0]
    assert grants == [("team-a", "editor"), ("team-b", "viewer")]
    (listed,) = SqlTokens(store).list()
    assert listed == made.record and listed.roles == {"team-a": Role.EDITOR, "team-b": Role.VIEWER} and listed.name == "ci"


def test_a_live_token_is_a_principal_with_its_roles_and_records_its_use_once_a_minute(url):
    store = SqlMetadataStore(url, upgrade=True)
    tokens = SqlTokens(store)
    made = tokens.create({"team-a": Role.ADMIN})
    assert made.record.last_used_at is None
    assert tokens.principal(made.token) == Principal(f"token {made.record.id}", {"team-a": Role.ADMIN})
    assert tokens.list()[0].last_used_at is not None

    def used_ago(seconds: int) -> datetime:
        """Pretend the token was last used `seconds` ago, use it, and say when it was last used now."""
        earlier = (datetime.now(timezone.utc) - timedelta(seconds=seconds)).replace(microsecond=0)
        with store.transaction() as session:
            session.execute(update(ApiToken).values(last_used_at=earlier))
        tokens.principal(made.token)
        last = tokens.list()[0].last_used_at
        assert last is not None
        return last - earlier  # type: ignore[no-any-return]

    assert used_ago(30) == timedelta(0)  # within the minute: not written again (a busy token writes once a minute)
    assert used_ago(3600) >= timedelta(seconds=3599)


def test_unknown_mistyped_and_revoked_tokens_are_no_one(url):
    tokens = SqlTokens(SqlMetadataStore(url, upgrade=True))
    made = tokens.create({"team-a": Role.VIEWER})
    other = tokens.create({"team-a": Role.VIEWER})
    token_id, secret = parse(made.token) or ("", "")
    for wrong in (
        f"{TOKEN_PREFIX}{token_id}_{secret[:-1]}",  # a wrong secret
        f"{TOKEN_PREFIX}{token_id}_{parse(other.token)[1]}",  # type: ignore[index]  # another token's secret
        f"{TOKEN_PREFIX}ffffffffffffffff_{secret}",  # an id no token has
        f"{TOKEN_PREFIX}{token_id}",  # no secret
        secret,  # not our shape
        "",
    ):
        assert tokens.principal(wrong) is None, wrong
    revoked = tokens.revoke(made.record.id)
    assert revoked.revoked_at is not None and tokens.principal(made.token) is None
    assert tokens.revoke(made.record.id).revoked_at == revoked.revoked_at  # revoking again changes nothing
    assert {record.id: record.revoked_at is None for record in tokens.list()} == {made.record.id: False, other.record.id: True}
    assert tokens.principal(other.token) is not None
    with pytest.raises(NotFound, match="no token 'nope'"):
        tokens.revoke("nope")


def test_a_token_needs_a_namespace():
    with pytest.raises(ValueError, match="at least one namespace"):
        SqlTokens(None).create({})  # type: ignore[arg-type]


def test_roles_include_the_roles_below_them():
    assert [[held.includes(needed) for needed in Role] for held in Role] == [[True, False, False], [True, True, False], [True, True, True]]
    both = Principal("p", {"team-a": Role.VIEWER, "team-b": Role.ADMIN}, everywhere=Role.EDITOR)
    assert (both.role_in("team-a"), both.role_in("team-b"), both.role_in("elsewhere")) == (Role.EDITOR, Role.ADMIN, Role.EDITOR)
    assert Principal("p", {"team-a": Role.VIEWER}).role_in("team-b") is None and ANONYMOUS.role_in("any") == Role.ADMIN
