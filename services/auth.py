"""Passwords (argon2) and signed bearer tokens (JWT, HS256)."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import parse_id
from db.models import User
from services.errors import ErrorCode, fail
from services.lru import MISSING, Lru

_hasher = PasswordHasher()
# Verified against when the email is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
_ALGORITHM = "HS256"
_ISSUER = "cartera"
MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def hash_password_off_loop(password: str) -> str:
    """hash_password in a worker thread, for request handlers."""
    return await asyncio.to_thread(_hasher.hash, password)


def check_password_rules(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise fail(ErrorCode.INVALID, f"Password must have at least {MIN_PASSWORD_LENGTH} characters", field)
    if len(password) > 256:
        raise fail(ErrorCode.TOO_LONG, "Password must have at most 256 characters", field)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User:
    """The active user with these credentials; one error for every kind of miss."""
    email = email.strip().lower()
    # No stored email holds NUL (PostgreSQL cannot), and the driver would fail on it.
    user = (
        None
        if "\x00" in email
        else (await session.execute(select(User).where(func.lower(User.email) == email))).scalar_one_or_none()
    )
    # argon2 takes tens of milliseconds by design; a thread keeps the event loop serving others.
    ok = await asyncio.to_thread(_verify, user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.is_active:
        raise fail(ErrorCode.INVALID_CREDENTIALS, "Email or password is incorrect")
    return user


def issue_token(*, secret_key: str, user_id: int, ttl_seconds: int, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    claims = {
        "iss": _ISSUER,
        "sub": str(user_id),
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl_seconds)).timestamp()),
    }
    return jwt.encode(claims, secret_key, algorithm=_ALGORITHM)


@dataclass(frozen=True)
class VerifiedToken:
    user_id: int
    # A live subscription ends then.
    expires_at: datetime


# Tokens found valid, by (key, token): a client sends the same one on every request, and
# checking its signature and claims cost about a tenth of a `{ __typename }`. Only valid ones are
# kept (once valid, a token stays so until it expires, which every hit checks), at most this many.
_VERIFIED_MAX = 10_000
_verified: Lru[tuple[str, str], VerifiedToken] = Lru(_VERIFIED_MAX)


def verify_token(token: str, *, secret_key: str) -> VerifiedToken | None:
    """Who a valid, unexpired token names and until when, else None. No database access."""
    key = (secret_key, token)
    known = _verified.get(key)
    if known is not MISSING:
        if known.expires_at.timestamp() > time.time():
            return known
        _verified.pop(key)
        return None
    verified = _check_token(token, secret_key=secret_key)
    if verified is not None:
        _verified.put(key, verified)
    return verified


def _check_token(token: str, *, secret_key: str) -> VerifiedToken | None:
    """A token signed with our key may still carry claims we never issue (a subject that is no
    user id, an expiry no datetime holds): it is as unusable as a forged one."""
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[_ALGORITHM],
            issuer=_ISSUER,
            options={"require": ["exp", "sub", "iat"]},
        )
    # Before 2.15 PyJWT lets int()'s own errors escape on an `exp` or `iat` of the wrong kind
    # (infinity, a list); after decode, both are known to convert to an int.
    except (jwt.PyJWTError, TypeError, OverflowError):
        return None
    subject = claims["sub"]
    # Only PyJWT 2.10 and later check that `sub` is a string.
    user_id = parse_id(subject) if isinstance(subject, str) else None
    if user_id is None:
        return None
    try:
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return VerifiedToken(user_id=user_id, expires_at=expires_at)


def read_token(token: str, *, secret_key: str) -> int | None:
    """The user id a valid, unexpired token names, else None."""
    verified = verify_token(token, secret_key=secret_key)
    return verified.user_id if verified else None


def bearer(header_value: str | None) -> str | None:
    if not header_value:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
