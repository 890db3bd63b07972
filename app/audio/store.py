"""Content-addressed media: saved in the database, served from each instance's disk."""

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from app.models import MediaAsset
from app.models.media import utc_now

MEDIA_TYPES = {
    # The codecs tell a browser's canPlayType() exactly what it would have to decode.
    "m4a": 'audio/mp4; codecs="mp4a.40.2"',
    "webm": 'audio/webm; codecs="opus"',
    "ogg": "audio/ogg",
    "vtt": "text/vtt",
}
MEDIA_NAME = re.compile(r"^[0-9a-f]{64}\.(m4a|webm|ogg|vtt)$")


@dataclass(frozen=True)
class MediaFile:
    name: str
    sha256: str
    mime: str
    size_bytes: int

    @property
    def url(self) -> str:
        return f"/media/{self.name}"


def media_file(data: bytes, extension: str) -> tuple[MediaFile, bytes]:
    digest = hashlib.sha256(data).hexdigest()
    return MediaFile(f"{digest}.{extension}", digest, MEDIA_TYPES[extension], len(data)), data


class MediaStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def save(self, session: Session, file: MediaFile, data: bytes) -> None:
        """Record the bytes (once, whoever saves first) and keep a local copy."""
        values = {
            "name": file.name,
            "sha256": file.sha256,
            "mime": file.mime,
            "size_bytes": file.size_bytes,
            "data": data,
            "created_at": utc_now(),
        }
        dialect = session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        session.execute(insert(MediaAsset).values(**values).on_conflict_do_nothing())
        self._write_local(file.name, data)

    def local_path(self, session: Session, name: str) -> Path | None:
        """The file on this instance's disk, fetched from the database if another made it."""
        if not MEDIA_NAME.match(name):
            return None
        path = self.directory / name
        if path.is_file():
            return path
        asset = session.get(MediaAsset, name)
        if asset is None:
            return None
        self._write_local(name, asset.data)
        return path

    def _write_local(self, name: str, data: bytes) -> None:
        path = self.directory / name
        if path.is_file():
            return
        # Write then rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
