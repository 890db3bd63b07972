"""Create account, sign in, sign out, who am I, erase account."""

import logging

import anyio
from fastapi import APIRouter, Request, Response, status
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from app.auth import service
from app.auth.errors import BadCredentials, RateLimited, WrongPassword
from app.auth.rate_limit import LoginThrottle, TooManyAttempts, client_address
from app.auth.schemas import (
    AccountErased,
    Credentials,
    PasswordConfirmation,
    SignInCredentials,
    UserPublic,
)
from app.auth.sessions import (
    clear_session_cookie,
    end_session,
    set_session_cookie,
    start_session,
)
from app.db import in_session
from app.deps import (
    CurrentUser,
    HashingDep,
    SessionDep,
    SettingsDep,
    ThrottleDep,
    UserToErase,
)
from app.errors import error_responses
from app.models import User

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/auth", tags=["auth"])


def _counted_attempt(throttle: LoginThrottle, email: str, address: str) -> float:
    """The attempt counted (as failed, until it succeeds); its delay, or 429 past a limit."""
    try:
        return throttle.attempt(email, address)
    except TooManyAttempts as exc:
        log.warning("sign-in refused: too many failures (%s)", throttle.account_key(email)[:13])
        raise RateLimited(
            "Too many failed attempts. Try again later.",
            headers={"Retry-After": str(exc.retry_after_s)},
            retry_after_s=exc.retry_after_s,
        ) from exc


def _public(user: User) -> UserPublic:
    return UserPublic(email=user.email, created_at=user.created_at)


@router.post("/register", status_code=status.HTTP_201_CREATED,
             responses=error_responses(409, 429))
def register(body: Credentials, request: Request, response: Response, db: SessionDep,
             settings: SettingsDep, hashing: HashingDep, throttle: ThrottleDep) -> UserPublic:
    """Create an account and sign in."""
    address = client_address(request)
    # A taken email stays counted as a failure: it bounds probing for who has an account.
    _counted_attempt(throttle, body.email, address)
    user = service.create_user(db, hashing, body.email, body.password)
    throttle.succeeded(body.email, address)
    end_session(db, request.cookies.get(settings.session_cookie_name))
    set_session_cookie(response, start_session(db, user, settings), settings)
    log.info("account created: user %s", user.id)
    return _public(user)


@router.post("/login", responses=error_responses(401, 429))
async def login(body: SignInCredentials, request: Request, response: Response,
                settings: SettingsDep, hashing: HashingDep,
                throttle: ThrottleDep) -> UserPublic:
    """Sign in; the same answer for an unknown email and a wrong password."""
    address = client_address(request)
    delay_s = await run_in_threadpool(_counted_attempt, throttle, body.email, address)
    if delay_s:
        # Waited out before a database slot is taken: failed sign-ins queue here, and the
        # requests of everyone else keep their connections.
        await anyio.sleep(delay_s)

    checked = False

    def sign_in(db: Session) -> UserPublic:
        nonlocal checked
        user = service.authenticate(db, hashing, body.email, body.password)
        checked = True
        if user is None:
            log.info("sign-in failed (%s)", throttle.account_key(body.email)[:13])
            raise BadCredentials("The email or the password is wrong.")
        throttle.succeeded(body.email, address)
        # Rotation: whatever session this browser had is ended, a new id is issued.
        end_session(db, request.cookies.get(settings.session_cookie_name))
        user_id = user.id  # read now: after a failed flush the session loads nothing more
        try:
            token = start_session(db, user, settings)
        except IntegrityError:
            # Erased from another device since the password was checked: no account left.
            log.info("sign-in failed: user %s was erased meanwhile", user_id)
            raise BadCredentials("The email or the password is wrong.") from None
        set_session_cookie(response, token, settings)
        log.info("signed in: user %s", user.id)
        return _public(user)

    try:
        return await in_session(request, sign_in)
    except BaseException:
        if not checked:  # the database was away, or the client left: no guess was made
            await run_in_threadpool(throttle.unchecked, body.email, address)
        raise


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, db: SessionDep, settings: SettingsDep) -> Response:
    """Sign out: the session is deleted on the server and the cookie cleared."""
    end_session(db, request.cookies.get(settings.session_cookie_name))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response, settings)
    log.info("signed out")
    return response


@router.get("/me", responses=error_responses(401))
def me(user: CurrentUser) -> UserPublic:
    """The signed-in account; 401 when signed out."""
    return _public(user)


@router.delete("/account", responses=error_responses(401, 429))
def delete_account(body: PasswordConfirmation, request: Request, response: Response,
                   user: UserToErase, db: SessionDep, settings: SettingsDep,
                   hashing: HashingDep, throttle: ThrottleDep) -> AccountErased:
    """Erase the account and all its server data; the password confirms it."""
    address = client_address(request)
    _counted_attempt(throttle, user.email, address)
    if not hashing.verify(user.password_hash, body.password):
        raise WrongPassword("The password is wrong; nothing was erased.")
    throttle.succeeded(user.email, address)
    user_id = user.id
    counts = service.erase_user(db, user)
    clear_session_cookie(response, settings)
    log.info("account erased: user %s", user_id)
    return AccountErased(
        erased=True,
        detail="Your account and all its data on the server are erased. This device keeps "
        "its own copy of your history until you clear it.",
        **counts,
    )
