"""The app shell's precache manifest: every shell file with the sha256 of its bytes.

The manifest is written into /sw.js, so any change to a shell file (or to the build tag)
yields a byte-different worker, which is what makes browsers install an update.
"""

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.config import APP_VERSION

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"

# Every screen is the same shell page; the page's router picks the screen from the path.
APP_ROUTES = ("/", "/setup", "/play", "/after", "/learn", "/downloads", "/history", "/settings")
# Folders of web/ served at /<name>/ and precached whole.
STATIC_DIRS = ("js", "css", "icons")
# Served, but not part of the shell: the drawing the icons are made from.
NOT_PRECACHED = frozenset({"icons/source.svg"})
MANIFEST_FILE = "manifest.webmanifest"
SW_BODY = "sw.js"
SHELL_TEMPLATE = "shell.html"


@dataclass(frozen=True)
class PrecacheEntry:
    url: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class ShellBuild:
    """One consistent snapshot of the shell: what /, /sw.js and the manifest serve."""

    version: str  # what people see: "0.1.0" or "0.1.0+<build>"
    revision: str  # hash of everything below: names the worker's cache
    entries: tuple[PrecacheEntry, ...]
    shell_html: bytes
    sw_js: bytes

    @property
    def total_bytes(self) -> int:
        return sum(entry.bytes for entry in self.entries)


def asset_url(path: str) -> str:
    """The URL of a static file, for templates; plain because the worker keys by revision."""
    return path if path.startswith("/") else f"/{path}"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _static_files(web_dir: Path) -> list[tuple[str, Path]]:
    files = []
    for folder in STATIC_DIRS:
        root = web_dir / folder
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(web_dir).as_posix()
            if path.is_file() and relative not in NOT_PRECACHED and not path.name.startswith("."):
                files.append((f"/{relative}", path))
    manifest = web_dir / MANIFEST_FILE
    if manifest.is_file():
        files.append((f"/{MANIFEST_FILE}", manifest))
    return files


def _render_shell(web_dir: Path, version: str) -> bytes:
    env = Environment(
        loader=FileSystemLoader(web_dir / "templates"),
        autoescape=select_autoescape(["html"]),
        keep_trailing_newline=True,
    )
    template = env.get_template(SHELL_TEMPLATE)
    return template.render(version=version, asset=asset_url, app_routes=APP_ROUTES).encode()


def build_shell(web_dir: Path = WEB_DIR, build: str = "") -> ShellBuild:
    """Hash every shell file, render the shell page and the worker that precaches them."""
    version = f"{APP_VERSION}+{build}" if build else APP_VERSION
    shell_html = _render_shell(web_dir, version)
    entries = [PrecacheEntry("/", _digest(shell_html), len(shell_html))]
    for url, path in _static_files(web_dir):
        data = path.read_bytes()
        entries.append(PrecacheEntry(url, _digest(data), len(data)))
    sw_body = (web_dir / SW_BODY).read_bytes()
    revision = _digest(
        json.dumps([version, [vars(e) for e in entries], _digest(sw_body)]).encode()
    )[:16]
    header = {
        "version": version,
        "revision": revision,
        "routes": list(APP_ROUTES),
        "entries": [{"url": e.url, "sha256": e.sha256} for e in entries],
    }
    sw_js = (
        b"// Written by the server: the shell files this worker precaches.\n"
        + b"self.PRECACHE = "
        + json.dumps(header, indent=1).encode()
        + b";\n\n"
        + sw_body
    )
    return ShellBuild(version, revision, tuple(entries), shell_html, sw_js)


def _fingerprint(web_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of every input: cheap to compare per request."""
    paths = [web_dir / SW_BODY, web_dir / MANIFEST_FILE]
    paths += sorted((web_dir / "templates").rglob("*"))
    for folder in STATIC_DIRS:
        paths += sorted((web_dir / folder).rglob("*"))
    stats = []
    for path in paths:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        stats.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(stats)


class ShellCache:
    """Rebuilds the shell only when a file under web/ changed, so edits need no restart."""

    def __init__(self, web_dir: Path = WEB_DIR, build: str = "",
                 builder: Callable[[Path, str], ShellBuild] = build_shell) -> None:
        self.web_dir = web_dir
        self.build = build
        self._builder = builder
        self._lock = threading.Lock()
        self._key: tuple[tuple[str, int, int], ...] | None = None
        self._current: ShellBuild | None = None

    def current(self) -> ShellBuild:
        key = _fingerprint(self.web_dir)
        with self._lock:
            if self._current is None or key != self._key:
                self._current = self._builder(self.web_dir, self.build)
                self._key = key
            return self._current
