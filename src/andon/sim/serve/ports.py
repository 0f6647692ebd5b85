"""Why a protocol server cannot listen or a publisher finds no broker, in words a person can
act on (``andon sim serve``, ``andon demo``), instead of a library's traceback."""

from __future__ import annotations

import errno
import socket

from andon.core.errors import InputError

BROKER_WAIT_S = 10.0
"""How long a publisher waits for the broker's CONNACK before it gives up."""


def cannot_listen(what: str, host: str, port: int, exc: BaseException | None) -> InputError:
    """The error for a server that cannot listen on ``host:port``."""
    code = exc.errno if isinstance(exc, OSError) else None
    if code == errno.EADDRINUSE or code is None:
        why, hint = "is in use", "choose another port, or stop the program listening there"
    elif code == errno.EACCES:
        why, hint = "needs privileges", "choose a port above 1023"
    elif code == errno.EADDRNOTAVAIL:
        why, hint = "is not available", f"{host} is not an address of this computer"
    else:
        why, hint = f"cannot be opened ({exc})", "choose another port"
    return InputError(f"{what} port {port} on {host} {why}; {hint}")


def check_can_listen(what: str, host: str, port: int) -> None:
    """Raise ``cannot_listen`` when ``host:port`` cannot be listened on (port 0: any port
    will do). Checked before the server starts, as asyncio would bind (SO_REUSEADDR), so that
    the library does not log a traceback for it first."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except socket.gaierror as exc:
            raise InputError(f"{what}: cannot resolve host {host!r}: {exc}") from None
        except OSError as exc:
            raise cannot_listen(what, host, port, exc) from None


def no_broker(url: str) -> InputError:
    """The error for a publisher whose broker did not answer."""
    return InputError(
        f"no MQTT broker answered at {url} (refused, or silent for {BROKER_WAIT_S:g} s); "
        "start the broker (e.g. mosquitto) or give the URL of one with --mqtt"
    )
