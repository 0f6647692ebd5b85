"""The navigation: one registry of pages, each shown only to the roles that may open it.

Every page module declares its entries as data (``NAV = (NavItem(...), ...)``); ``install``
adds them to the app's :class:`Navigation`, and the layout shows a user the entries their
role grants, grouped and ordered. A later room's pages (OEE, losses, alarms, rules,
maintenance, schedule, twin, quality, data health) add their own ``NavItem`` the same way;
:data:`PLANNED` names the groups and their order so the bar does not reshuffle as they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from andon.identity import Permission, Principal

PLANNED = ("plant", "performance", "alarms", "maintenance", "planning", "quality", "admin")
"""Navigation groups in display order: plant (board, machines, data health), performance
(OEE, losses), alarms (alarms, rules), maintenance, planning (schedule, twin), quality,
admin (users, tokens, audit)."""


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the navigation bar: a label, where it goes, who may see it.

    ``permission`` must be the one the page's route requires, so the bar never offers a link
    that answers 403; ``order`` sorts entries within their ``group``.
    """

    label: str
    href: str
    permission: Permission
    group: str = "plant"
    order: int = 100

    def __post_init__(self) -> None:
        if self.group not in PLANNED:
            raise ValueError(f"nav group {self.group!r}: expected one of {', '.join(PLANNED)}")
        if not self.href.startswith("/") or self.href.startswith("//"):
            raise ValueError(f"nav href {self.href!r}: must be a path on this site")


class Navigation:
    """The app's navigation entries (see the module docstring)."""

    def __init__(self, items: Iterable[NavItem] = ()) -> None:
        self._items: list[NavItem] = []
        for item in items:
            self.add(item)

    def add(self, item: NavItem) -> None:
        """Add an entry; a second entry with the same href is a mistake."""
        if any(i.href == item.href for i in self._items):
            raise ValueError(f"nav href {item.href!r} is registered twice")
        self._items.append(item)

    @property
    def items(self) -> list[NavItem]:
        """Every entry, by group (in ``PLANNED`` order), then order, then label."""
        return sorted(self._items, key=lambda i: (PLANNED.index(i.group), i.order, i.label))

    def visible_to(self, principal: Principal | None) -> list[NavItem]:
        """The entries ``principal`` may open (none for someone not logged in)."""
        if principal is None:
            return []
        return [i for i in self.items if principal.can(i.permission)]
