"""The app factory: settings in, a ready FastAPI app out."""

import contextlib
import gc
import logging
import mimetypes
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from app.audio.store import MediaStore
from app.audio.tts import load_voice
from app.auth.cookie_renewal import SessionCookieRenewal
from app.auth.csrf import CsrfMiddleware
from app.auth.passwords import PasswordHashing
from app.auth.rate_limit import AddressBudget, make_counter, make_render_budget, make_throttle
from app.auth.router import router as auth_router
from app.config import APP_VERSION, Settings, get_settings
from app.db import make_engine, make_session_slots, warn_if_autovacuum_is_off
from app.errors import UnexpectedErrorAnswers, answer_bug, install_error_handlers
from app.health.router import router as health_router
from app.history.router import router as history_router
from app.media.router import router as media_router
from app.migrate import upgrade_to_head
from app.observability.logging import configure_logging, request_id_var
from app.observability.metrics import RequestTallyFolder
from app.observability.middleware import REQUEST_ID_HEADER, RequestObservability
from app.observability.router import router as metrics_router
from app.pwa.router import mount_pwa
from app.reminders.router import router as reminders_router
from app.reminders.sender import ReminderSender
from app.reminders.webpush import load_vapid_key
from app.response_cache import KeptAnswers, ReplayUnchangingAnswers
from app.routines.router import UNCHANGING_ROUTES
from app.routines.router import router as routines_router
from app.routines.service import SessionScripts
from app.security import add_security_headers, security_headers, sending_also
from app.sqlite_writer import SqliteWriter
from app.sync.body_limit import BodyLimitMiddleware
from app.sync.direct_pull import PULL_PATH, DirectPull, ReplayKeptPolls
from app.sync.direct_push import PUSH_PATH, DirectPush
from app.sync.router import router as sync_router
from app.sync.sqlite_polls import SqlitePolls
from app.wal_checkpoint import WalCheckpointer

log = logging.getLogger(__name__)

# Objects made and not yet freed before the collector looks for cycles (see lifespan).
YOUNG_COLLECTION_THRESHOLD = 10_000
# A database out of reach as the app starts is asked of its autovacuum again this often.
AUTOVACUUM_CHECK_RETRY_S = 30.0

# Slim images lack these, and StaticFiles would send text/plain.
for mime, ext in (("audio/mp4", ".m4a"), ("audio/webm", ".webm"), ("text/vtt", ".vtt"),
                  ("application/manifest+json", ".webmanifest"), ("text/javascript", ".js")):
    mimetypes.add_type(mime, ext)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.should_migrate_on_start:
        upgrade_to_head(settings.resolved_database_url)
    engine = make_engine(settings)
    sqlite_file = (settings.is_sqlite and engine.url.database not in (None, "", ":memory:")
                   and engine.url.query.get("mode") != "memory")
    checkpointer = None
    if sqlite_file:
        checkpointer = WalCheckpointer(str(engine.url.database),
                                       uri=engine.url.query.get("uri") == "true",
                                       every_s=settings.wal_checkpoint_every_s)
    voice = load_voice(settings.speech_cache_dir) if settings.voice_enabled else None
    if voice is None:
        log.warning("No voice installed: sessions get bells and on-screen captions only.")
    store = MediaStore(settings.audio_dir)
    app.state.engine = engine
    app.state.direct_statements = {}  # pushes' statements, compiled once
    app.state.wal_checkpointer = checkpointer
    # Polls after a cookie are read on the event loop, on connections of their own (an
    # in-memory SQLite database is private to its connection: its polls use the pool).
    app.state.polls = None
    # Pushes too: on SQLite in turns on one writer, on PostgreSQL on the event loop.
    app.state.sqlite_writer = None
    app.state.postgres_pushes = None
    listening_polls = None  # PostgreSQL's: they listen for every instance's writes
    if sqlite_file:
        app.state.polls = SqlitePolls(engine)
        app.state.sqlite_writer = SqliteWriter(engine, checkpointer=checkpointer)
    elif not settings.is_sqlite:
        from app.sync.pg_pushes import PostgresPushes
        from app.sync.polls import PostgresPolls  # psycopg is there with PostgreSQL

        app.state.polls = listening_polls = PostgresPolls(engine)
        app.state.postgres_pushes = PostgresPushes(engine)
        # On a thread: a database down at start-up must not hold the start.
        threading.Thread(target=warn_if_autovacuum_is_off,
                         args=(engine, AUTOVACUUM_CHECK_RETRY_S),
                         name="autovacuum-check", daemon=True).start()
    app.state.vapid_key = load_vapid_key(
        settings.vapid_private_key.get_secret_value() if settings.vapid_private_key else None,
        settings.data_dir)
    if settings.environment == "production" and settings.vapid_subject.endswith("@localhost"):
        log.warning("Set VAPID_SUBJECT to a contact address: some push services refuse "
                    "reminders from a server without one.")
    app.state.session_slots = make_session_slots(settings)
    sender = ReminderSender(engine, app.state.vapid_key, settings.vapid_subject,
                            settings.reminder_check_s, app.state.session_slots)
    app.state.reminder_sender = sender
    app.state.voice = voice
    app.state.media_store = store
    app.state.session_scripts = SessionScripts(
        store, voice, make_render_budget(settings), settings.render_concurrency
    )
    # What start-up made (modules, routes, the voice) lives as long as the process: out of
    # the collector's sight, a full collection no longer walks it, which took 60 to 80 ms
    # of a stalled event loop each time.
    gc.collect()  # garbage first: frozen, it would never be freed
    gc.freeze()
    # A request's objects are freed as they go out of use; the collector's default (a
    # young collection per 700 objects made and not yet freed) ran some 40 times a second
    # under fifty devices pushing, its older generations stalling the event loop up to
    # 10 ms each time. At 10,000, cycles are still collected, in larger batches, and
    # PostgreSQL pushes gained 7 % per second at 50 connections.
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD)
    # A worker thread back from the database waits for the GIL while the event loop runs;
    # handing it over every 1 ms instead of 5 ms gave PostgreSQL pulls 30 % more
    # throughput at 50 connections.
    sys.setswitchinterval(0.001)
    tally_folder = RequestTallyFolder()
    tally_folder.start()
    if checkpointer:
        checkpointer.start()
    if listening_polls is not None and settings.listen_for_writes:
        listening_polls.start()
    if settings.reminders_enabled:
        sender.start()
    try:
        yield
    finally:
        tally_folder.stop()
        await sender.close()
        # Pushes still waiting are written before the last checkpoint copies the log.
        if app.state.sqlite_writer is not None:
            await app.state.sqlite_writer.close()
        if checkpointer:
            checkpointer.stop()
        if app.state.polls is not None:
            await app.state.polls.close()
        if app.state.postgres_pushes is not None:
            await app.state.postgres_pushes.close()
        engine.dispose()


class RestGuideApp(FastAPI):
    """FastAPI, with the outermost middleware in front of the layers FastAPI puts around
    every app (its 500 page, and its telemetry and body-limit hooks, which this app
    leaves unused). An answer replayed from memory there (a poll with nothing new, a
    routine or a session's script) passes five layers fewer: 4 to 5 % more polls a second
    at 50 connections, on the request every open app sends again and again.

    A bug in what is in front is answered here as FastAPI's 500 page would answer it: the
    JSON envelope, logged, then raised on to the server; with the security headers and
    the request id, as every answer.
    """

    front: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self  # as Starlette sets it, for what is in front to read
        try:
            await self.front(scope, receive, send)
        except Exception as exc:
            if scope["type"] == "http" and scope.get(_ANSWERED_BELOW) is not exc:
                # Where the answer had begun, the server refuses another start, and ends
                # the connection once this is raised on.
                with contextlib.suppress(Exception):
                    await answer_bug(scope, receive, _as_every_answer(scope, send), exc)
            raise

    async def layered(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app as FastAPI runs it: its own layers, the middleware, the routes."""
        try:
            await super().__call__(scope, receive, send)
        except Exception as exc:
            scope[_ANSWERED_BELOW] = exc  # by FastAPI's 500 page, which raises it on
            raise


_ANSWERED_BELOW = "crg.answered_below"


def _as_every_answer(scope: Scope, send: Send) -> Send:
    """send, adding what every answer carries and the middleware behind would have
    added: the security headers, and the request id where the request middleware gave
    one before the bug."""
    request_id = request_id_var.get()
    id_header = ((REQUEST_ID_HEADER, request_id.encode()),) if request_id else ()
    return sending_also(send, security_headers(scope) + id_header)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    app = RestGuideApp(
        title="Constructive Rest Guide",
        version=APP_VERSION,
        lifespan=lifespan,
        # The bundled docs page loads its scripts from a CDN, which the CSP refuses.
        docs_url=None,
        openapi_url="/api/openapi.json",
        redoc_url=None,
        # Prometheus and our JSON logs observe the app; FastAPI's OpenTelemetry hooks would
        # only look for providers nobody configures, on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.state.password_hashing = PasswordHashing(settings.password_hash_concurrency)
    app.state.login_throttle = make_throttle(settings)
    app.state.kept_answers = KeptAnswers()
    app.state.reminder_budget = AddressBudget(
        make_counter(settings, 3600, "reminder"), settings.reminder_saves_per_hour)
    # Innermost: they answer after every outer check and header.
    sync_routes = {getattr(route, "path", None): route for route in sync_router.routes}
    app.add_middleware(DirectPush, route=sync_routes[PUSH_PATH])
    app.add_middleware(DirectPull, route=sync_routes[PULL_PATH])
    app.add_middleware(CsrfMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(SessionCookieRenewal, settings=settings)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(routines_router)
    app.include_router(media_router)
    app.include_router(auth_router)
    app.include_router(sync_router)
    app.include_router(history_router)
    app.include_router(reminders_router)
    mount_pwa(app, settings.app_build)
    # A bug's 500, with the security headers and the request id as every answer.
    app.add_middleware(UnexpectedErrorAnswers)
    add_security_headers(app)
    # In front of FastAPI's own layers (see RestGuideApp), outermost first: the request
    # id and timing cover every answer; then the replays, each sent as kept (security
    # headers and all) with its own request id, access line and metrics: polls with
    # nothing new, until the database changes (every open app polls again and again),
    # and answers that cannot change while the process runs.
    app.front = RequestObservability(ReplayKeptPolls(
        ReplayUnchangingAnswers(app.layered, answers=app.state.kept_answers,
                                routes=UNCHANGING_ROUTES),
        route=sync_routes[PULL_PATH]))
    return app


app = create_app()
