"""Peer of benchmark 2: the users service's GET /api/v1/users/{id}, written the FastAPI way.

The same contract a client sees from the users service -- a bearer access token verified
against the auth service's JWKS (EdDSA signature, type, issuer, audience, expiry and required
claims, with PyJWT as in FastAPI's security tutorial; the keys come from
``common.auth.JWKSCache``, fetched once per worker), the caller's own profile or 404, the
``{"data", "meta": {"request_id"}}`` envelope and the ``X-Request-ID`` header -- as idiomatic
FastAPI: an ``async`` security dependency, a sync SQLAlchemy session dependency and a sync
endpoint (both run in the threadpool), a pydantic response model. Same model, table, database
and engine (pool) options as the users service; no JSON access log (uvicorn's is off under the
shared gunicorn settings), so this side does slightly less work. The threadpool runs at most
GUNICORN_THREADS (4) sync calls at once per worker, as many as a gthread worker has threads
(FASTAPI_THREADPOOL overrides it; FastAPI's own default is 40).

Served by gunicorn with the same settings and worker count, uvicorn workers::

    gunicorn -c bench/gunicorn_bench.py -k uvicorn_worker.UvicornWorker \
        --pythonpath bench/peers "fastapi_app:create_app()"
"""

import json
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

import anyio.to_thread
import jwt
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict
from sqlalchemy import create_engine
from sqlalchemy.orm import Session, sessionmaker

from common.auth import ACCESS_TOKEN_TYPE, ALLOWED_ALGORITHMS, REQUIRED_CLAIMS, JWKSCache
from common.config import Config
from users_service.models import User

_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class Principal(BaseModel):
    """Who the token speaks for."""

    subject: str
    roles: frozenset[str]

    def has_role(self, *roles: str) -> bool:
        """True when the principal holds any of ``roles``."""
        return not self.roles.isdisjoint(roles)


class UserOut(BaseModel):
    """A user as the API returns it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    name: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class Meta(BaseModel):
    """Request facts."""

    request_id: str


class UserEnvelope(BaseModel):
    """The envelope the platform answers with."""

    data: UserOut
    meta: Meta


def create_app() -> FastAPI:
    """The FastAPI peer."""
    engine = create_engine(os.environ["DATABASE_URL"], **Config.SQLALCHEMY_ENGINE_OPTIONS)
    sessions = sessionmaker(engine, expire_on_commit=False)
    jwks = JWKSCache(os.environ["AUTH_JWKS_URL"], timeout=2.0)
    issuer = os.environ.get("AUTH_ISSUER", "platform-auth")
    audience = os.environ.get("AUTH_AUDIENCE", "platform")
    bearer = HTTPBearer(auto_error=False)
    threadpool = int(os.environ.get("FASTAPI_THREADPOOL") or os.environ["GUNICORN_THREADS"])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = threadpool
        yield
        # uvicorn workers die by their re-raised SIGTERM, past gunicorn's worker_exit hook: the
        # JWKS fetch count (the benchmark's proof of caching) is written here instead.
        line = {"bench": "jwks", "service": "fastapi", "pid": os.getpid(), "fetches": jwks.fetches}
        sys.stderr.write("BENCH_JSON " + json.dumps(line) + "\n")
        sys.stderr.flush()

    app = FastAPI(title="users (FastAPI peer)", lifespan=lifespan)

    def get_session() -> Iterator[Session]:
        with sessions() as session, session.begin():
            yield session

    async def get_principal(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        unauthorized = HTTPException(401, "Invalid token.", {"WWW-Authenticate": "Bearer"})
        if credentials is None:
            raise unauthorized
        token = credentials.credentials
        try:
            header = jwt.get_unverified_header(token)
            if (
                header.get("alg") not in ALLOWED_ALGORITHMS
                or header.get("typ") != ACCESS_TOKEN_TYPE
            ):
                raise unauthorized
            key = jwks.get(str(header.get("kid", "")))
            if key is None:
                raise unauthorized
            claims = jwt.decode(
                token,
                key,
                algorithms=[key.algorithm_name],
                audience=audience,
                issuer=issuer,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError:
            raise unauthorized from None
        return Principal(subject=str(claims["sub"]), roles=frozenset(claims.get("roles", [])))

    @app.get("/api/v1/users/{user_id}", response_model=UserEnvelope)
    def get_user(
        user_id: uuid.UUID,
        request: Request,
        response: Response,
        principal: Annotated[Principal, Depends(get_principal)],
        session: Annotated[Session, Depends(get_session)],
    ) -> dict[str, object]:
        if principal.subject != str(user_id) and not principal.has_role("admin", "service"):
            raise HTTPException(404, "No user with this id.")
        user = session.get(User, user_id)
        if user is None:
            raise HTTPException(404, "No user with this id.")
        incoming = request.headers.get("x-request-id", "")
        request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        response.headers["X-Request-ID"] = request_id
        return {"data": user, "meta": {"request_id": request_id}}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
