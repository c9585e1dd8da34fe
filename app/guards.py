"""What a request must satisfy before an endpoint sees it: token, size, content type."""

import secrets

from fastapi import HTTPException, Request
from fastapi.security import HTTPBearer
from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self.too_large(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise HTTPException(status_code=413, detail=self.detail)
            return message

        await self.app(scope, limited_receive, send)

    @property
    def detail(self) -> str:
        return f"request body is larger than {self.max_bytes} bytes"

    async def too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await JSONResponse(status_code=413, content={"detail": self.detail})(scope, receive, send)


async def require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(status_code=415, detail="Content-Type must be application/json")


class BearerToken:
    """ASGI middleware: 401 for a request without `Authorization: Bearer <token>` (compared in
    constant time) to any path but `open_paths`. It runs before anything reads the body, so a
    client without the token learns nothing else: not 413, 415 or 422, not which paths exist."""

    def __init__(self, app: ASGIApp, token: SecretStr, open_paths: frozenset[str]) -> None:
        self.app = app
        self.expected = token.get_secret_value().encode()
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths or self.authorized(scope):
            await self.app(scope, receive, send)
            return
        await JSONResponse(
            status_code=401,
            content={"detail": "missing or wrong bearer token"},
            headers={"WWW-Authenticate": "Bearer"},
        )(scope, receive, send)

    def authorized(self, scope: Scope) -> bool:
        scheme, _, given = Headers(scope=scope).get("authorization", "").partition(" ")
        # Starlette decodes header values as latin-1: encoding them back gives the bytes sent.
        sent = given.encode("latin-1")
        return scheme.lower() == "bearer" and secrets.compare_digest(sent, self.expected)


# Only for the OpenAPI schema, where create_app declares it when a token is set: BearerToken has
# already let the request through by the time dependencies run.
bearer = HTTPBearer(auto_error=False, description="The service's API_TOKEN.")
