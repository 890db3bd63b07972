"""Dependencies shared by the routers, declared once as Annotated aliases."""

from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.audio.store import MediaStore
from app.auth.errors import NotSignedIn
from app.auth.passwords import PasswordHashing
from app.auth.rate_limit import LoginThrottle
from app.auth.sessions import user_for_token
from app.config import Settings
from app.db import get_session
from app.models import User
from app.routines.service import SessionScripts


# Accessors of app state are `async def`: FastAPI runs a plain `def` dependency on a
# worker thread, a hop that costs more than the lookup.
async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session_scripts(request: Request) -> SessionScripts:
    scripts: SessionScripts = request.app.state.session_scripts
    return scripts


async def get_media_store(request: Request) -> MediaStore:
    store: MediaStore = request.app.state.media_store
    return store


async def get_password_hashing(request: Request) -> PasswordHashing:
    hashing: PasswordHashing = request.app.state.password_hashing
    return hashing


async def get_login_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


# scope="function": commit before the answer is sent. FastAPI's default ("request") ends
# the dependency after the response, so a client could be told "applied" for a commit that
# then fails, and its next request could miss its own write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionScriptsDep = Annotated[SessionScripts, Depends(get_session_scripts)]
MediaStoreDep = Annotated[MediaStore, Depends(get_media_store)]
HashingDep = Annotated[PasswordHashing, Depends(get_password_hashing)]
ThrottleDep = Annotated[LoginThrottle, Depends(get_login_throttle)]


def get_optional_user(request: Request, db: SessionDep, settings: SettingsDep) -> User | None:
    return user_for_token(db, request.cookies.get(settings.session_cookie_name), settings)


async def get_current_user(user: Annotated[User | None, Depends(get_optional_user)]) -> User:
    if user is None:
        raise NotSignedIn("Sign in first.")
    return user


def get_user_to_erase(request: Request, db: SessionDep, settings: SettingsDep) -> User:
    """The signed-in user, the session's expiry left alone: erasing deletes the session
    anyway, and renewing it first would lock the session's row before the user's, the
    order a push takes the other way round (see renew)."""
    user = user_for_token(db, request.cookies.get(settings.session_cookie_name), settings,
                          slide=False)
    if user is None:
        raise NotSignedIn("Sign in first.")
    return user


async def get_session_token(request: Request) -> str:
    """The sign-in cookie, unchecked: for routes that check it in their own transaction."""
    # Settings straight from app state: a sub-dependency costs the hot sync routes more.
    token = request.cookies.get(request.app.state.settings.session_cookie_name)
    if not token:
        raise NotSignedIn("Sign in first.")
    return token


OptionalUser = Annotated[User | None, Depends(get_optional_user)]
CurrentUser = Annotated[User, Depends(get_current_user)]
UserToErase = Annotated[User, Depends(get_user_to_erase)]
SessionToken = Annotated[str, Depends(get_session_token)]
