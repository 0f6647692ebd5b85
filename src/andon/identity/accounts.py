"""The Identity facade: users and logins here; sessions and tokens delegated to their stores.

Every change to an account or a token, and every login (succeeded, failed or throttled), is
written to the audit log *in the same transaction* as the change itself: there is no account
change without its audit entry, and no audit entry for a change that rolled back. Because the
audit append lock is taken first, identity writes are serialised with each other too, which
also makes checks such as "is this the last admin?" safe against a concurrent change.

Passwords and token secrets never reach the audit log, an exception message or a log line.

Throttled logins are audited sparingly, so a throttled attacker cannot flood the log: once
per lock-out (per account and address, or per address when the address limit is what blocks),
and at most once a minute per client address; each note counts the throttled attempts that
were not noted since the previous one from that address (``details.suppressed``). This state
is per process (each andon process may note once).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.engine import Connection, Engine, Row

from andon.audit import AuditLog
from andon.core.clock import NS_PER_MIN, NS_PER_S, now_ns
from andon.core.errors import InputError
from andon.historian.engine import storage_errors
from andon.identity.errors import HashingBusy, LoginFailed, LoginThrottled
from andon.identity.passwords import (
    HASH_SLOTS,
    HASH_WAIT_S,
    Passwords,
    check_password,
    generate_password,
)
from andon.identity.roles import Principal, Role, parse_role
from andon.identity.schema import check_name, users
from andon.identity.sessions import SessionStore, WebSession
from andon.identity.throttle import (
    Waits,
    account_key,
    address_key,
    clear_account,
    current_waits,
    record_failure,
)
from andon.identity.tokens import TokenInfo, TokenStore, check_lifetime, check_roles

THROTTLE_NOTE_EVERY_NS = NS_PER_MIN
"""At most one "login throttled" audit entry per client address in this time."""
THROTTLE_NOTES_KEPT = 10_000
"""Lock-outs and addresses remembered for noting; past this the memory starts afresh."""


@dataclass(frozen=True)
class UserInfo:
    """What may be shown about a user: never the password hash."""

    name: str
    role: Role
    disabled: bool
    created_ns: int
    last_login_ns: int | None


def _client(address: str) -> str:
    """The client address as the audit log shows it: in full (the throttle keys IPv6 by /64)."""
    return address.strip() or "unknown"


def _source(actor: str, source: str) -> str:
    """Where an action came from: as given, else the actor's prefix (``cli:ann`` -> ``cli``)."""
    return source or (actor.split(":", 1)[0] if ":" in actor else "andon")


class Identity:
    """Users, logins, web sessions and API tokens, on the historian's database."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], int] = now_ns,
        password_hasher: PasswordHasher | None = None,
        hash_slots: int = HASH_SLOTS,
        hash_wait_s: float = HASH_WAIT_S,
    ) -> None:
        """``hash_slots`` password hashes run at once at most; one that waits ``hash_wait_s``
        for a slot is refused with :class:`HashingBusy` (a ``LoginThrottled``)."""
        self._engine = engine
        self._clock = clock
        self._passwords = Passwords(password_hasher, slots=hash_slots, wait_s=hash_wait_s)
        self.audit = AuditLog(engine, clock=clock)
        self._sessions = SessionStore(engine, clock)
        self._tokens = TokenStore(engine, clock)
        self._notes_lock = threading.Lock()
        self._throttle_noted: dict[str, int] = {}
        """Lock-out key -> when that lock-out ends (it is noted once)."""
        self._address_notes: dict[str, tuple[int | None, int]] = {}
        """Address key -> (time of its latest note, throttled attempts not noted since)."""

    # -- users ---------------------------------------------------------------------------

    def create_user(
        self, name: str, role: Role, password: str | None = None, *, actor: str, source: str = ""
    ) -> str:
        """Add a user; returns the password (generated if none given: show it once).

        HashingBusy (a LoginThrottled) if no password-hashing slot came free in time.
        """
        check_name(name)
        chosen = parse_role(str(role))
        password = generate_password() if password is None else check_password(name, password)
        hashed = self._passwords.hash(password)
        with self.audit.transaction() as conn:
            if self._row(conn, name) is not None:
                raise InputError(f"user {name!r} already exists")
            now = self._clock()
            conn.execute(
                sa.insert(users).values(
                    name=name,
                    role=chosen.value,
                    password_hash=hashed,
                    created_ns=now,
                    password_changed_ns=now,
                )
            )
            self._audit(conn, actor, source, "create_user", name, {"role": chosen.value})
        return password

    def users(self) -> list[UserInfo]:
        """Every user, by name (disabled ones included)."""
        with storage_errors(self._engine), self._engine.connect() as conn:
            rows = conn.execute(sa.select(users).order_by(users.c.name)).all()
        return [
            UserInfo(r.name, Role(r.role), bool(r.disabled), r.created_ns, r.last_login_ns)
            for r in rows
        ]

    def set_password(
        self, name: str, password: str | None = None, *, actor: str, source: str = ""
    ) -> str:
        """Give a user a new password (generated if none given) and end their sessions.

        HashingBusy (a LoginThrottled) if no password-hashing slot came free in time.
        """
        password = generate_password() if password is None else check_password(name, password)
        hashed = self._passwords.hash(password)
        with self.audit.transaction() as conn:
            row = self._existing(conn, name)
            conn.execute(
                sa.update(users)
                .where(users.c.id == row.id)
                .values(password_hash=hashed, password_changed_ns=self._clock())
            )
            ended = SessionStore.end_all(conn, row.id)
            self._audit(conn, actor, source, "set_password", name, {"sessions_ended": ended})
        return password

    def set_role(self, name: str, role: Role, *, actor: str, source: str = "") -> None:
        """Change a user's role; takes effect on their very next request."""
        chosen = parse_role(str(role))
        with self.audit.transaction() as conn:
            row = self._existing(conn, name)
            if chosen is not Role.ADMIN:
                self._keep_an_admin(conn, row, "change the role of")
            conn.execute(sa.update(users).where(users.c.id == row.id).values(role=chosen.value))
            details = {"from": row.role, "to": chosen.value}
            self._audit(conn, actor, source, "set_role", name, details)

    def disable_user(self, name: str, *, actor: str, source: str = "") -> None:
        """Stop a user from logging in and end their sessions (API tokens are not theirs)."""
        self._set_disabled(name, True, actor, source)

    def enable_user(self, name: str, *, actor: str, source: str = "") -> None:
        """Let a disabled user log in again (with their old password)."""
        self._set_disabled(name, False, actor, source)

    def has_admin(self) -> bool:
        """True if at least one enabled admin exists (else `andon user create` must make one)."""
        with storage_errors(self._engine), self._engine.connect() as conn:
            found = conn.execute(
                sa.select(users.c.id).where(users.c.role == Role.ADMIN.value, ~users.c.disabled)
            ).first()
        return found is not None

    # -- login ---------------------------------------------------------------------------

    def login(self, name: str, password: str, *, address: str) -> Principal:
        """Check a name and password; LoginFailed (one message for every reason) or throttled.

        LoginThrottled when the account or the address (an IPv6 one by its /64) has failed
        too often, or (as HashingBusy) when too many password hashes are running already:
        neither counts as a failure.
        """
        account, addr, now = account_key(name), address_key(address), self._clock()
        client = _client(address)
        with storage_errors(self._engine), self._engine.connect() as conn:
            waits = current_waits(conn, account=account, address=addr, now_ns=now)
            row = None if waits.seconds > 0 else self._row(conn, account)
        actor = f"user:{account}"
        if waits.seconds > 0:  # refused before the password is even looked at
            self._note_throttle(account, addr, client, now, waits)
            raise LoginThrottled(waits.seconds)
        good = self._passwords.verify(None if row is None else row.password_hash, password)
        if row is None or row.disabled or not good:
            reason = "unknown user" if row is None else "disabled" if row.disabled else "password"
            with self.audit.transaction() as conn:
                record_failure(conn, account=account, address=addr, now_ns=now)
                self._audit(
                    conn,
                    actor,
                    client,
                    "login",
                    account,
                    {"reason": reason},
                    "failed",
                    "auth",
                )
            raise LoginFailed()
        values: dict[str, Any] = {"last_login_ns": now}
        if self._passwords.needs_rehash(row.password_hash):
            # the password was right: if every hash slot is busy, log in now, rehash later
            with contextlib.suppress(HashingBusy):
                values["password_hash"] = self._passwords.hash(password)
        with self.audit.transaction() as conn:
            clear_account(conn, account=account)
            conn.execute(sa.update(users).where(users.c.id == row.id).values(**values))
            details = {"rehashed": "password_hash" in values}
            self._audit(conn, actor, client, "login", account, details, "ok", "auth")
        return Principal(row.name, frozenset({Role(row.role)}), "user")

    # -- sessions and tokens ---------------------------------------------------------------

    def start_session(self, principal: Principal) -> WebSession:
        """A new web session (new id, new CSRF token) for a user who just logged in."""
        return self._sessions.start(principal)

    def session(self, secret: str, *, touch: bool = True) -> WebSession:
        """The live session for a cookie value; InvalidCredentials if unknown or timed out.

        ``touch=False`` for requests the page makes by itself (polling, the live stream):
        the session is checked (idle and absolute timeouts, disabled user) but the request
        does not count as activity, so an unattended dashboard still times out.
        """
        return self._sessions.get(secret, touch=touch)

    def end_session(self, secret: str, *, address: str = "") -> None:
        """Log out: the session is deleted server-side (an unknown secret is ignored).

        The deletion and its audit entry (source: the client ``address``, or ``api`` when none
        is given) commit in one transaction.
        """
        name = self._sessions.owner(secret)
        if name is None:  # nothing to end: no lock taken, nothing recorded
            return
        with self.audit.transaction() as conn:
            name = SessionStore.end_on(conn, secret)
            if name is not None:  # (unless another request ended it meanwhile)
                source = address.strip() or "api"
                self._audit(conn, f"user:{name}", source, "logout", name, {}, "ok", "auth")

    def create_token(
        self,
        name: str,
        roles: Iterable[Role],
        *,
        expires_in_s: float,
        actor: str,
        source: str = "",
    ) -> tuple[int, str]:
        """A new API token; returns ``(id, token)``. The token is shown once, never stored."""
        chosen, lifetime = check_roles(roles), check_lifetime(expires_in_s)
        with self.audit.transaction() as conn:
            token_id, token = self._tokens.insert(conn, name, chosen, lifetime, actor)
            details = {
                "token_id": token_id,
                "roles": sorted(r.value for r in chosen),
                "expires_s": round(lifetime),
            }
            self._audit(conn, actor, source, "create_token", name, details)
        return token_id, token

    def authenticate_token(self, secret: str) -> Principal:
        """The principal an API token proves; InvalidCredentials if bad, expired or revoked."""
        return self._tokens.authenticate(secret)

    def tokens(self) -> list[TokenInfo]:
        """Every token with its roles, dates and status; never a secret."""
        return self._tokens.all()

    def revoke_token(self, token_id: int, *, actor: str, source: str = "") -> None:
        """End a token at once. Revoking a revoked token changes (and records) nothing."""
        with self.audit.transaction() as conn:
            info = self._tokens.get(conn, token_id)
            if info.revoked:
                return
            self._tokens.mark_revoked(conn, token_id)
            self._audit(conn, actor, source, "revoke_token", info.name, {"token_id": token_id})

    # -- inside ----------------------------------------------------------------------------

    def _set_disabled(self, name: str, disabled: bool, actor: str, source: str) -> None:
        with self.audit.transaction() as conn:
            row = self._existing(conn, name)
            if disabled:
                self._keep_an_admin(conn, row, "disable")
            conn.execute(sa.update(users).where(users.c.id == row.id).values(disabled=disabled))
            ended = SessionStore.end_all(conn, row.id) if disabled else 0
            action = "disable_user" if disabled else "enable_user"
            self._audit(conn, actor, source, action, name, {"sessions_ended": ended})

    def _keep_an_admin(self, conn: Connection, row: Row[Any], doing: str) -> None:
        """Refuse to remove the last enabled admin: no one could manage users afterwards."""
        if row.role != Role.ADMIN.value or row.disabled:
            return
        others = conn.execute(
            sa.select(sa.func.count()).where(
                users.c.role == Role.ADMIN.value, ~users.c.disabled, users.c.id != row.id
            )
        ).scalar_one()
        if others == 0:
            raise InputError(
                f"cannot {doing} {row.name!r}: it is the last enabled admin; "
                "create another admin first"
            )

    @staticmethod
    def _row(conn: Connection, name: str) -> Row[Any] | None:
        return conn.execute(sa.select(users).where(users.c.name == name)).first()

    def _existing(self, conn: Connection, name: str) -> Row[Any]:
        row = self._row(conn, name)
        if row is None:
            raise InputError(f"no user named {name!r} (see `andon user list`)")
        return row

    def _audit(
        self,
        conn: Connection,
        actor: str,
        source: str,
        action: str,
        target: str,
        details: dict[str, Any],
        result: str = "ok",
        category: str = "identity",
    ) -> None:
        self.audit.append(
            conn,
            actor=actor,
            source=_source(actor, source),
            category=category,
            action=action,
            target=target,
            result=result,
            details=details,
        )

    def _note_throttle(
        self, account: str, address: str, client: str, now: int, waits: Waits
    ) -> None:
        """Audit a throttled attempt sparingly, so it cannot flood the log.

        Once per lock-out: per address alone when the address limit blocks (a new made-up
        name per try changes nothing), else per account and address. And at most once per
        ``THROTTLE_NOTE_EVERY_NS`` per address; attempts not noted are counted, and the
        address's next note carries that count (``suppressed``).
        """
        by_address = waits.address > 0
        key = f"\x00{address}" if by_address else f"{account}\x00{address}"
        with self._notes_lock:
            last, suppressed = self._address_notes.get(address, (None, 0))
            recent = last is not None and now - last < THROTTLE_NOTE_EVERY_NS
            if recent or self._throttle_noted.get(key, 0) > now:
                self._address_notes[address] = (last, suppressed + 1)
                return
            if max(len(self._throttle_noted), len(self._address_notes)) >= THROTTLE_NOTES_KEPT:
                self._throttle_noted.clear()
                self._address_notes.clear()
            self._throttle_noted[key] = now + round(waits.seconds * NS_PER_S)
            self._address_notes[address] = (now, 0)
        details = {
            "retry_after_s": round(waits.seconds, 1),
            "limit": "address" if by_address else "account",
            "suppressed": suppressed,
        }
        self.audit.record(
            actor=f"user:{account}",
            source=client,
            category="auth",
            action="login",
            target=account,
            result="denied",
            details=details,
        )
