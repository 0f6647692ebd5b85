"""The dashboard: server-rendered pages (Jinja2 + HTMX), live through the API's stream.

``install(app)`` adds the pages to an app made by ``andon.api.create_app`` (or
``create_web_app(context)`` makes both). Floor 6: built on the API's access rules, sessions
and board; nothing below imports it. Browser libraries (uPlot, HTMX) ship inside the package
in ``static/vendor``; no page loads anything from another site.
"""

from andon.web.mount import PAGES, create_web_app, install
from andon.web.nav import PLANNED, Navigation, NavItem

__all__ = ["PAGES", "PLANNED", "NavItem", "Navigation", "create_web_app", "install"]
