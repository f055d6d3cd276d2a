"""What the OAuth client raises."""

from __future__ import annotations


class OAuthError(Exception):
    """Authorization could not be obtained: discovery failed, a check refused what a server
    sent, or the authorization server answered with an OAuth error."""

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__(message)
        self.error = error  # the OAuth ``error`` code, when the server gave one
