"""The refusals of authentication and authorization: `AuthError` (400/401/403) and
`AuthUnavailable` (503), with their JSON-RPC codes and HTTP challenges."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..protocol.errors import INVALID_REQUEST, McpError
from .bearer import bearer_challenge

#: JSON-RPC error codes of refusals (implementation-defined server-error range).
UNAUTHORIZED = -32001
FORBIDDEN = -32003
UNAVAILABLE = -32004


class AuthError(McpError):
    """A refusal for authentication (401), authorization (403) or a malformed request (400).

    Over HTTP it is answered with its status and a ``WWW-Authenticate: Bearer ...`` challenge
    (RFC 6750 §3, RFC 9728 §5.1); elsewhere it is a JSON-RPC error.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 401,
        error: str | None = None,
        description: str | None = None,
        scopes: Iterable[str] = (),
        resource_metadata: str | None = None,
        code: int | None = None,
    ) -> None:
        if code is None:
            code = {401: UNAUTHORIZED, 403: FORBIDDEN, 503: UNAVAILABLE}.get(
                status, INVALID_REQUEST
            )
        self.error = error
        self.description = description
        self.scopes = tuple(scopes)
        self.resource_metadata = resource_metadata
        data: dict[str, Any] = {}
        if error:
            data["error"] = error
        if description:
            data["error_description"] = description
        if self.scopes:
            data["scope"] = " ".join(self.scopes)
        if resource_metadata:
            data["resource_metadata"] = resource_metadata
        super().__init__(code, message, data or None)
        self.http_status = status
        challenge = bearer_challenge(resource_metadata, self.scopes, error, description)
        self.http_headers = {"WWW-Authenticate": challenge} if status in (400, 401, 403) else None

    # -- the refusals the spec names ------------------------------------------------------------
    @classmethod
    def invalid_token(cls, description: str, **kw: Any) -> AuthError:
        """A token was given but cannot be used (expired, wrong audience, bad signature...)."""
        return cls(
            f"Unauthorized: invalid access token: {description}",
            status=401,
            error="invalid_token",
            description=description,
            **kw,
        )

    @classmethod
    def missing_token(cls, message: str = "", **kw: Any) -> AuthError:
        """No usable credentials: no ``Authorization`` header, or not a Bearer one (401)."""
        return cls(
            message
            or "Unauthorized: this server needs an access token (Authorization: Bearer <token>)",
            status=401,
            **kw,
        )

    @classmethod
    def invalid_request(cls, description: str, **kw: Any) -> AuthError:
        """Credentials given the wrong way: a malformed header, a token in the URL (400)."""
        return cls(
            f"Bad request: {description}",
            status=400,
            error="invalid_request",
            description=description,
            code=INVALID_REQUEST,
            **kw,
        )

    @classmethod
    def insufficient_scope(
        cls, what: str, scopes: Iterable[str], missing: Iterable[str], **kw: Any
    ) -> AuthError:
        """The principal lacks `missing` of the `scopes` that `what` needs (403)."""
        scopes = tuple(scopes)
        lacking = ", ".join(missing)
        description = f"{what} needs scope(s) {' '.join(scopes)}"
        return cls(
            f"Forbidden: {what} needs scope(s) {', '.join(scopes)}; the token lacks {lacking}",
            status=403,
            error="insufficient_scope",
            description=description,
            scopes=scopes,
            **kw,
        )


class AuthUnavailable(AuthError):
    """The token could not be checked right now (the authorization server is unreachable)."""

    def __init__(self, description: str) -> None:
        super().__init__(
            f"Service unavailable: cannot verify the access token: {description}",
            status=503,
            description=description,
        )
        self.http_headers = {"Retry-After": "5"}
