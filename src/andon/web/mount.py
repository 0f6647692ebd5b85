"""Installing the dashboard on the API's app: pages, static files, HTML errors, navigation.

Reading ``install`` tells the whole story: the navigation gathered from every page module, the
templates and static files, the error handlers that turn 401 into a login redirect for pages,
then one router per page module. Every page route declares one access rule
(``require(...)``/``public()``) exactly as the API's routes do, so the route × role test
covers pages too.

    server = ApiServer(context, host, port)   # andon serve / andon demo
    install(server.app)
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from fastapi import FastAPI

from andon.api import ApiContext, create_app
from andon.web import static_files
from andon.web.errors import install_errors
from andon.web.nav import Navigation
from andon.web.pages import (
    admin_audit,
    admin_tokens,
    admin_users,
    board,
    datahealth,
    login,
    machines,
    oee,
    sources,
    stops,
)
from andon.web.render import STATE_KEY, Site, load_static

PAGES: tuple[ModuleType, ...] = (
    static_files,
    login,
    board,
    oee,
    datahealth,
    machines,
    stops,
    sources,
    admin_users,
    admin_tokens,
    admin_audit,
)
"""Page modules, each with a ``router`` and its ``NAV`` entries. A later room's pages (OEE,
alarms, maintenance, …) are one more module here."""


def install(app: FastAPI, pages: Sequence[ModuleType] = PAGES) -> None:
    """Add the dashboard to ``app`` (made by ``andon.api.create_app``); once per app."""
    if hasattr(app.state, STATE_KEY):
        raise ValueError("the dashboard is already installed on this app")
    navigation = Navigation(item for module in pages for item in module.NAV)
    setattr(app.state, STATE_KEY, Site(navigation, load_static()))
    install_errors(app)
    for module in pages:
        app.include_router(module.router)


def create_web_app(context: ApiContext) -> FastAPI:
    """The API with the dashboard installed: what ``andon serve`` serves."""
    app = create_app(context)
    install(app)
    return app
