"""Failed-login throttling, per account and per client address, kept in the database.

The rules (OWASP ASVS 5.0 level 2, "at most 100 failed attempts per hour per account"):

- **per account**: the first 5 failures within 15 minutes are free; after that each attempt
  must wait ``2 ** (n - 5)`` seconds after the latest failure (1 s, 2 s, 4 s, ...), capped at
  15 minutes. A successful login clears the account's count.
- **per account, hard cap**: never more than 100 failures in an hour, whatever the back-off.
- **per address**: at most 30 failures within 15 minutes from one client address, over all
  account names (one address guessing many names), whatever logins succeed in between. An
  IPv6 client counts by its /64 network (one subscriber or host usually holds a whole /64,
  and could otherwise use a fresh address for every try); an IPv4 address counts as itself,
  and an IPv4 address seen through a dual-stack socket (``::ffff:a.b.c.d``) as that address.

The account is the name *as typed* (lowercased), whether or not such a user exists, so the
throttle behaves the same for real and invented names and does not reveal which exist.
A throttled attempt is refused before the password is looked at and does not count as a
failure: otherwise an attacker could keep a real user locked out for ever just by trying. (An
attacker can still hold one account's back-off at its 15-minute cap; that is the price of
any per-account limit, and the cap bounds it.)

Rows live in the database, not in memory, so every andon process serving logins applies the
same limits. Two attempts racing through the check at the same instant can each pass it; the
overshoot is bounded by the number of concurrent requests and is accepted.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from andon.audit.chain import shorten, storable
from andon.core.clock import NS_PER_MIN, NS_PER_S
from andon.identity.schema import ADDRESS_CHARS, NAME_CHARS, login_failures

ACCOUNT_WINDOW_NS = 15 * NS_PER_MIN
ACCOUNT_FREE_FAILURES = 5
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 15 * 60.0
HOURLY_WINDOW_NS = 60 * NS_PER_MIN
HOURLY_MAX_FAILURES = 100
ADDRESS_WINDOW_NS = 15 * NS_PER_MIN
ADDRESS_MAX_FAILURES = 30
KEEP_NS = max(HOURLY_WINDOW_NS, ADDRESS_WINDOW_NS, ACCOUNT_WINDOW_NS)
"""Failures older than this no longer matter and are pruned."""


def account_key(name: str) -> str:
    """The account a login attempt counts against: the name as typed, lowercased, cut to fit."""
    return storable(name.strip().lower())[:NAME_CHARS]


def address_key(address: str) -> str:
    """The client address a login attempt counts against, cut to fit its column.

    IPv6 addresses count by their /64 (``2001:db8:1:2::/64``), IPv4 ones as themselves;
    anything that is not an IP address (a test client's name) is kept as given.
    """
    text = address.strip()
    try:
        ip = ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        return shorten(text, ADDRESS_CHARS)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def _nth_newest(conn: Connection, where: sa.ColumnElement[bool], n: int) -> int | None:
    """Time of the ``n``-th newest failure matching ``where`` (1 = newest), or None."""
    return conn.execute(
        sa.select(login_failures.c.ts_ns)
        .where(where)
        .order_by(login_failures.c.ts_ns.desc())
        .offset(n - 1)
        .limit(1)
    ).scalar()


class Waits(NamedTuple):
    """Seconds to wait because of the account's failures and because of the address's."""

    account: float
    address: float

    @property
    def seconds(self) -> float:
        """How long the attempt must wait: the longer of the two (0.0: it may try now)."""
        return max(self.account, self.address)


def retry_after_s(conn: Connection, *, account: str, address: str, now_ns: int) -> float:
    """Seconds until ``account`` may try again from ``address``; 0.0 if it may try now."""
    return current_waits(conn, account=account, address=address, now_ns=now_ns).seconds


def current_waits(conn: Connection, *, account: str, address: str, now_ns: int) -> Waits:
    """What keeps ``account`` from trying from ``address`` now, limit by limit."""
    account_waits = [0.0]
    mine = sa.and_(login_failures.c.account == account, login_failures.c.cleared == sa.false())
    recent = conn.execute(
        sa.select(sa.func.count(), sa.func.max(login_failures.c.ts_ns)).where(
            mine, login_failures.c.ts_ns > now_ns - ACCOUNT_WINDOW_NS
        )
    ).one()
    count, latest = int(recent[0]), recent[1]
    if count >= ACCOUNT_FREE_FAILURES and latest is not None:
        backoff = min(BACKOFF_BASE_S * 2.0 ** (count - ACCOUNT_FREE_FAILURES), BACKOFF_CAP_S)
        account_waits.append(backoff - (now_ns - latest) / NS_PER_S)
    hundredth = _nth_newest(
        conn, sa.and_(mine, login_failures.c.ts_ns > now_ns - HOURLY_WINDOW_NS), HOURLY_MAX_FAILURES
    )
    if hundredth is not None:
        account_waits.append((hundredth + HOURLY_WINDOW_NS - now_ns) / NS_PER_S)
    thirtieth = _nth_newest(
        conn,
        sa.and_(
            login_failures.c.address == address,
            login_failures.c.ts_ns > now_ns - ADDRESS_WINDOW_NS,
        ),
        ADDRESS_MAX_FAILURES,
    )
    by_address = 0.0 if thirtieth is None else (thirtieth + ADDRESS_WINDOW_NS - now_ns) / NS_PER_S
    return Waits(max(account_waits), max(by_address, 0.0))


def record_failure(conn: Connection, *, account: str, address: str, now_ns: int) -> None:
    """Count one failed login, and forget failures too old to matter."""
    conn.execute(sa.delete(login_failures).where(login_failures.c.ts_ns <= now_ns - KEEP_NS))
    conn.execute(sa.insert(login_failures).values(ts_ns=now_ns, account=account, address=address))


def clear_account(conn: Connection, *, account: str) -> None:
    """A successful login: the account's earlier failures no longer slow it down.

    The rows stay (marked cleared) so the per-address limit still counts them.
    """
    conn.execute(
        sa.update(login_failures)
        .where(login_failures.c.account == account, login_failures.c.cleared == sa.false())
        .values(cleared=True)
    )
