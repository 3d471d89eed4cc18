"""API bearer tokens in the store: create (the secret is returned once), list, revoke, authenticate.

A token is ``venvd_`` + 43 URL-safe characters from `secrets` (256 random bits). Only its sha256 is
stored, and a presented token is found by the sha256 of what was presented (one indexed lookup).
No slow hash (bcrypt, argon2) is needed: those protect low-entropy passwords against offline
guessing, and nobody guesses one of 2**256 values, whatever the hash speed; a fast hash keeps the
check per request at one digest and one index lookup, and a leaked table gives nothing to replay.

Scopes are ordered: ``read`` < ``build`` < ``admin``; a token allows its scope and those below.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
from datetime import UTC, datetime

import sqlalchemy as sa

from venvd.errors import InputError, NotFound
from venvd.store._models import TOKEN_SCOPES, TokenRow
from venvd.store._store import Store

__all__ = ["TOKEN_PREFIX", "TOKEN_SCOPES", "TokenRecord", "Tokens", "hash_token", "scope_allows"]

TOKEN_PREFIX = "venvd_"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def hash_token(secret: str) -> str:
    """The stored form of a token: sha256 hex of its text."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def scope_allows(scope: str, needed: str) -> bool:
    """True when a token of `scope` may do what needs `needed` (admin ⊃ build ⊃ read)."""
    return TOKEN_SCOPES.index(scope) >= TOKEN_SCOPES.index(needed)


@dataclasses.dataclass(frozen=True)
class TokenRecord:
    """A token as stored, without its secret."""

    id: int
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: TokenRow) -> TokenRecord:
        return cls(id=row.id, name=row.name, scope=row.scope, created_at=row.created_at,
                   last_used_at=row.last_used_at, revoked_at=row.revoked_at)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


class Tokens:
    """The tokens of one `Store` (thread-safe like the Store: a transaction per call)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def create(self, name: str, scope: str) -> tuple[TokenRecord, str]:
        """A new token named `name` with `scope`; returns its record and its secret, which is not
        stored and cannot be shown again. InputError for a bad name or scope, or a name already
        used by a token that is not revoked."""
        if scope not in TOKEN_SCOPES:
            raise InputError(f"unknown scope {scope!r}; one of {', '.join(TOKEN_SCOPES)}",
                             field="scope")
        if not _NAME.fullmatch(name):
            raise InputError(
                f"bad token name {name!r}: 1-64 letters, digits, '.', '_' or '-', not starting "
                "with a punctuation mark", field="name")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        with self._store._session(write=True) as s:
            taken = s.scalar(sa.select(TokenRow.id).where(TokenRow.name == name,
                                                          TokenRow.revoked_at.is_(None)))
            if taken is not None:
                raise InputError(f"a token named {name!r} exists; revoke it first", field="name")
            row = TokenRow(name=name, scope=scope, token_hash=hash_token(secret), created_at=now)
            s.add(row)
            s.flush()
            record = TokenRecord.from_row(row)
        return record, secret

    def list(self, *, revoked: bool = False) -> list[TokenRecord]:
        """The tokens not revoked (and the revoked ones too when `revoked`), oldest first."""
        query = sa.select(TokenRow).order_by(TokenRow.id)
        if not revoked:
            query = query.where(TokenRow.revoked_at.is_(None))
        with self._store._session() as s:
            return [TokenRecord.from_row(row) for row in s.scalars(query)]

    def revoke(self, name_or_id: str) -> TokenRecord:
        """Revoke the active token named `name_or_id` (or with that numeric id); NotFound when
        no token that is not revoked has it."""
        condition = TokenRow.name == name_or_id
        if name_or_id.isdigit():
            condition = sa.or_(condition, TokenRow.id == int(name_or_id))
        with self._store._session(write=True) as s:
            row = s.scalars(sa.select(TokenRow).where(condition, TokenRow.revoked_at.is_(None))
                            .order_by(TokenRow.id)).first()
            if row is None:
                raise NotFound(f"no active token {name_or_id!r}", token=name_or_id)
            row.revoked_at = datetime.now(UTC)
            s.flush()
            return TokenRecord.from_row(row)

    def authenticate(self, secret: str) -> TokenRecord | None:
        """The active token whose secret is `secret`, or None (unknown or revoked)."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            return None
        with self._store._session() as s:
            row = s.scalars(sa.select(TokenRow).where(TokenRow.token_hash == hash_token(secret),
                                                      TokenRow.revoked_at.is_(None))).one_or_none()
            return None if row is None else TokenRecord.from_row(row)

    def any_active(self) -> bool:
        """True when at least one token is not revoked."""
        with self._store._session() as s:
            return s.scalar(sa.select(TokenRow.id).where(TokenRow.revoked_at.is_(None))
                            .limit(1)) is not None

    def touch(self, token_id: int, when: datetime | None = None) -> None:
        """Record that the token was used (callers throttle this: it is a write)."""
        with self._store._session(write=True) as s:
            s.execute(sa.update(TokenRow).where(TokenRow.id == token_id)
                      .values(last_used_at=when or datetime.now(UTC)))
