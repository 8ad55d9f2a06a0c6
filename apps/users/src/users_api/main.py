"""The demo user API: settings -> database -> App with its routers.

    ferry serve users_api.main:app                  # the app made at import, from the environment
    ferry serve --factory users_api.main:create_app

`create_app()` also takes what tests replace: the settings, the database, the clock
(lockout windows and token expiry without waiting) and the password hasher's cost.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator

from ferry.api import App, RequestValidationError
from ferry.asgi.middleware.base import Middleware
from ferry.asgi.staticfiles import StaticFiles
from users_api.auth import Authenticator, Clock, PasswordHasher
from users_api.db import Database, database_from_url
from users_api.errors import server_error_handler, validation_error_handler
from users_api.limits import MIB, BodyLimitMiddleware
from users_api.live import live
from users_api.repository import Repository
from users_api.routes import AppState, auth, health, users
from users_api.settings import Settings

DOCS_STATIC_PATH = "/docs-static"


def create_app(
    settings: Settings | None = None,
    *,
    database: Database | None = None,
    clock: Clock = time.time,
    hasher: PasswordHasher | None = None,
) -> App:
    """The app, configured by `settings` (default: read from the environment now).

    Nothing connects here: the lifespan opens (and migrates) the database at start-up and
    closes it at shutdown.

    Raises:
        SettingsError, ValueError: the configuration is unusable (the message names it).
    """
    settings = settings or Settings.from_environ()
    database = database or database_from_url(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[AppState]:
        await database.open()
        try:
            repository = Repository(database)
            authenticator = Authenticator(
                repository, token_ttl_s=settings.token_ttl_s, hasher=hasher, clock=clock
            )
            yield AppState(repository=repository, auth=authenticator, clock=clock)
        finally:
            await database.close()

    swagger = swagger_ui_directory()
    app = App(
        title="Ferry users API",
        version="1.0.0",
        description="Register, log in with the OAuth2 password flow, and manage your profile.",
        lifespan=lifespan,
        state_type=AppState,
        middleware=[Middleware(BodyLimitMiddleware, max_body_bytes=MIB)],
        exception_handlers={
            RequestValidationError: validation_error_handler,
            Exception: server_error_handler,
        },
        # Swagger UI's files come with the swagger-ui-bundle package, so /docs works
        # offline; without the package the page falls back to the CDN.
        swagger_js_url=f"{DOCS_STATIC_PATH}/swagger-ui-bundle.js" if swagger else None,
        swagger_css_url=f"{DOCS_STATIC_PATH}/swagger-ui.css" if swagger else None,
    )
    if swagger:
        app.mount(DOCS_STATIC_PATH, StaticFiles(directory=swagger), name="docs-static")
    app.include_router(users)
    app.include_router(auth)
    app.include_router(health)
    app.include_router(live)
    return app


def swagger_ui_directory() -> str | None:
    """Where the installed swagger-ui-bundle keeps Swagger UI's files, or None."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return None
    return str(swagger_ui_path)


app = create_app()
