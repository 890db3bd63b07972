"""Every table, in one metadata for Alembic."""

from app.models.media import MediaAsset, RenderedSession
from app.models.reminder import Reminder
from app.models.rest import Rest
from app.models.sync import SyncClient, SyncRejection
from app.models.user import AuthSession, User

__all__ = [
    "AuthSession",
    "MediaAsset",
    "RenderedSession",
    "Reminder",
    "Rest",
    "SyncClient",
    "SyncRejection",
    "User",
]
