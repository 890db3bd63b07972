"""Dependencies shared by the routers, declared once as Annotated aliases."""

from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from app.audio.store import MediaStore
from app.auth.errors import NotSignedIn
from app.auth.sessions import user_for_token
from app.config import Settings
from app.db import get_session
from app.models import User
from app.routines.service import SessionScripts


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session_scripts(request: Request) -> SessionScripts:
    scripts: SessionScripts = request.app.state.session_scripts
    return scripts


def get_media_store(request: Request) -> MediaStore:
    store: MediaStore = request.app.state.media_store
    return store


# scope="function": commit before the answer is sent. FastAPI's default ("request") ends
# the dependency after the response, so a client could be told "applied" for a commit that
# then fails, and its next request could miss its own write.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
SessionScriptsDep = Annotated[SessionScripts, Depends(get_session_scripts)]
MediaStoreDep = Annotated[MediaStore, Depends(get_media_store)]


def get_optional_user(request: Request, db: SessionDep, settings: SettingsDep) -> User | None:
    return user_for_token(db, request.cookies.get(settings.session_cookie_name), settings)


def get_current_user(user: Annotated[User | None, Depends(get_optional_user)]) -> User:
    if user is None:
        raise NotSignedIn("Sign in first.")
    return user


OptionalUser = Annotated[User | None, Depends(get_optional_user)]
CurrentUser = Annotated[User, Depends(get_current_user)]
