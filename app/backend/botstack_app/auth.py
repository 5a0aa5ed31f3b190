"""Bearer JWT (HS256, signed with JWT_SECRET) for the API's write endpoints.

Tokens are minted out of band by whoever holds the secret: `botstack-token SUBJECT [--ttl SECONDS]`
reads JWT_SECRET / JWT_SECRET_FILE and prints a token with `sub` and `exp` (both required).
"""

from __future__ import annotations

import argparse
import sys
import time

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .config import ConfigError, get_settings

ALGORITHM = "HS256"
_bearer = HTTPBearer(auto_error=False)


def make_token(secret: str, subject: str, ttl_seconds: int = 3600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": subject, "iat": now, "exp": now + ttl_seconds}, secret, algorithm=ALGORITHM)


def require_user(creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> str:  # noqa: B008
    unauthorized = HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="a valid bearer token is required",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if creds is None or creds.scheme.lower() != "bearer":
        raise unauthorized
    secret = get_settings().require("jwt_secret")
    try:
        claims = jwt.decode(creds.credentials, secret, algorithms=[ALGORITHM], options={"require": ["sub", "exp"]})
    except jwt.PyJWTError:
        raise unauthorized from None
    return str(claims["sub"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="botstack-token", description="print an API token (JWT_SECRET[_FILE])")
    parser.add_argument("subject")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until it expires (default 3600)")
    args = parser.parse_args(argv)
    try:
        secret = get_settings().require("jwt_secret")
    except ConfigError as exc:
        print(f"botstack-token: {exc}", file=sys.stderr)
        return 2
    print(make_token(secret, args.subject, args.ttl))
    return 0
