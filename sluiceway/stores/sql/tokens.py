"""SqlTokens: the server's API tokens, in the metadata database, kept hashed.

A token reads `slw_<id>_<secret>`. The prefix makes a leaked token easy to recognise (secret
scanners, logs); the id is public, shown by `sluiceway tokens list`, and finds the row; the
secret is 256 random bits, and only its SHA-256 is kept. A slow password hash buys nothing
for a secret that cannot be guessed, and would cost every request; the digests are compared in
constant time, so how long a check takes says nothing about the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...core.access import Principal, Role
from .models import ApiToken, ApiTokenGrant
from .store import NotFound, SqlMetadataStore, _aware, _now, _retried_on_disconnect

TOKEN_PREFIX = "slw_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""How stale `last_used_at` may be: a busy token writes it once a minute, not on every request."""


@dataclass(frozen=True)
class TokenRecord:
    """A token as `tokens list` shows it: everything but its secret."""

    id: str
    name: str
    roles: dict[str, Role]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewToken:
    record: TokenRecord
    token: str
    """The whole token, secret included: shown once, kept nowhere."""


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[str, str] | None:
    """(id, secret) of a token in Sluiceway's shape; None for anything else (another identity system's token, say)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_id, separator, secret = token[len(TOKEN_PREFIX) :].partition("_")  # the id is hex: the first "_" ends it
    return (token_id, secret) if separator and token_id and secret else None


class SqlTokens:
    """API tokens in the database of `store`. Each method is one transaction, retried when the connection drops."""

    def __init__(self, store: SqlMetadataStore) -> None:
        self.store = store

    @_retried_on_disconnect
    def create(self, roles: Mapping[str, Role], name: str = "") -> NewToken:
        """Make a token with a role in each namespace of `roles`."""
        if not roles:
            raise ValueError("a token needs a role in at least one namespace")
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        with self.store.transaction() as session:
            row = ApiToken(id=token_id, name=name, secret_sha256=_digest(secret), created_at=_now(), last_used_at=None, revoked_at=None)
            session.add(row)
            session.add_all(ApiTokenGrant(token_id=token_id, namespace=namespace, role=role.value) for namespace, role in roles.items())
            session.flush()
            session.refresh(row)  # the time as stored (MySQL keeps whole seconds), so this answer equals every later one
            return NewToken(_record(row, dict(roles)), f"{TOKEN_PREFIX}{token_id}_{secret}")

    @_retried_on_disconnect
    def list(self) -> list[TokenRecord]:
        """Every token, revoked ones too, oldest first."""
        with self.store.transaction() as session:
            rows = session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id)).all()
            grants = _roles(session, [row.id for row in rows])
            return [_record(row, grants.get(row.id, {})) for row in rows]

    @_retried_on_disconnect
    def revoke(self, token_id: str) -> TokenRecord:
        """Make a token unusable from now on; it stays listed, with the time. Revoking it again changes nothing."""
        with self.store.transaction() as session:
            row = session.get(ApiToken, token_id)
            if row is None:
                raise NotFound(f"no token '{token_id}'")
            if row.revoked_at is None:
                row.revoked_at = _now()
                session.flush()
                session.refresh(row)
            return _record(row, _roles(session, [token_id]).get(token_id, {}))

    @_retried_on_disconnect
    def principal(self, token: str) -> Principal | None:
        """Who `token` is, or None when it is not a live token of this server (unknown, revoked, a wrong secret)."""
        parsed = parse(token)
        if parsed is None:
            return None
        token_id, secret = parsed
        with self.store.transaction() as session:
            row = session.get(ApiToken, token_id)
            if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_sha256, _digest(secret)):
                return None
            now = _now()
            if row.last_used_at is None or now - _aware(row.last_used_at) >= LAST_USED_RESOLUTION:
                row.last_used_at = now
            roles = _roles(session, [token_id]).get(token_id, {})
        return Principal(f"token {token_id}{f' ({row.name})' if row.name else ''}", roles)


def _roles(session: Session, token_ids: list[str]) -> dict[str, dict[str, Role]]:
    """Each token's role by namespace."""
    found: dict[str, dict[str, Role]] = {}
    for grant in session.scalars(select(ApiTokenGrant).where(ApiTokenGrant.token_id.in_(token_ids))):
        found.setdefault(grant.token_id, {})[grant.namespace] = Role(grant.role)
    return found


def _record(row: ApiToken, roles: dict[str, Role]) -> TokenRecord:
    return TokenRecord(
        row.id,
        row.name,
        roles,
        _aware(row.created_at),
        _aware(row.last_used_at) if row.last_used_at else None,
        _aware(row.revoked_at) if row.revoked_at else None,
    )
