"""What identity raises, placed under andon's error tree so the CLI and API can translate it.

    AndonError
    └── IdentityError          authentication or account trouble
        ├── LoginFailed        wrong name or password; deliberately the same for both
        ├── LoginThrottled     too many recent failures; ``retry_after_s`` says when to retry
        │   └── HashingBusy    too many password hashes running at once (the API still
        │                      answers 429: it is a LoginThrottled)
        └── InvalidCredentials a token or session cookie that is malformed, unknown, expired
                               or revoked (the API answers 401)

Mistakes in what an administrator typed (an unknown role, a bad user name, a weak password)
are ``InputError``: they are about the input, not about who is asking.
"""

from __future__ import annotations

from andon.core.errors import AndonError


class IdentityError(AndonError):
    """Base of the identity room's errors."""


class LoginFailed(IdentityError):
    """Name or password wrong. One message for both, so it does not tell which names exist."""

    def __init__(self) -> None:
        super().__init__("login failed: wrong user name or password")


class LoginThrottled(IdentityError):
    """Too many failed logins for this account or from this address; try again later."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"too many failed logins; try again in {max(1, round(retry_after_s))} s")


class HashingBusy(LoginThrottled):
    """Every password-hashing slot stayed taken for too long: a burst of logins; retry soon."""

    def __init__(self, retry_after_s: float = 1.0) -> None:
        super().__init__(retry_after_s)
        self.args = (f"too many logins at once; try again in {max(1, round(retry_after_s))} s",)


class InvalidCredentials(IdentityError):
    """A token or session that does not (or no longer) prove who is asking."""
