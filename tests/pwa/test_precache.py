import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.pwa.precache import APP_ROUTES, WEB_DIR, ShellCache, build_shell
from tests.pwa.conftest import pwa_app


def sw_manifest(sw_js: str) -> dict:
    match = re.search(r"self\.PRECACHE = (\{.*?\});\n", sw_js, re.S)
    assert match, "the worker carries no precache manifest"
    return json.loads(match.group(1))


@pytest.fixture
def web_copy(tmp_path: Path) -> Path:
    """A private copy of web/, so a test can change a shell file."""
    return Path(shutil.copytree(WEB_DIR, tmp_path / "web"))


class TestPrecacheManifest:
    def test_every_entry_is_served_with_the_bytes_its_hash_names(self, web_client: TestClient):
        manifest = sw_manifest(web_client.get("/sw.js").text)
        assert manifest["entries"], "nothing precached"
        for entry in manifest["entries"]:
            response = web_client.get(entry["url"])
            assert response.status_code == 200, entry["url"]
            assert hashlib.sha256(response.content).hexdigest() == entry["sha256"], entry["url"]

    def test_shell_page_and_its_scripts_styles_icons_are_precached(self, web_client: TestClient):
        urls = {e["url"] for e in sw_manifest(web_client.get("/sw.js").text)["entries"]}
        assert {"/", "/manifest.webmanifest", "/js/offline.js", "/js/sw-client.js",
                "/js/store.js", "/icons/icon-192.png", "/icons/maskable-512.png"} <= urls
        assert "/icons/source.svg" not in urls  # the drawing, not part of the app

    def test_app_routes_are_listed_for_navigation_fallback(self, web_client: TestClient):
        assert sw_manifest(web_client.get("/sw.js").text)["routes"] == list(APP_ROUTES)

    def test_same_inputs_give_a_byte_identical_worker(self, web_copy: Path):
        assert build_shell(web_copy).sw_js == build_shell(web_copy).sw_js

    def test_changing_any_shell_file_changes_the_worker(self, web_copy: Path):
        before = build_shell(web_copy)
        css = web_copy / "css" / "app.css"
        css.parent.mkdir(exist_ok=True)
        css.write_text(css.read_text() + "\n/* changed */\n" if css.exists() else "body{}")
        after = build_shell(web_copy)
        assert after.sw_js != before.sw_js
        assert after.revision != before.revision

    def test_build_tag_changes_version_worker_and_shell(self, web_copy: Path):
        one, two = build_shell(web_copy, "one"), build_shell(web_copy, "two")
        assert one.version.endswith("+one") and two.version.endswith("+two")
        assert one.sw_js != two.sw_js
        assert b'content="' + two.version.encode() + b'"' in two.shell_html

    def test_worker_body_follows_the_manifest(self, web_copy: Path):
        sw = build_shell(web_copy).sw_js
        assert sw.endswith((web_copy / "sw.js").read_bytes())

    def test_edit_on_disk_is_served_without_restart(self, web_copy: Path):
        cache = ShellCache(web_copy)
        first = cache.current()
        assert cache.current() is first  # unchanged files: no rebuild
        (web_copy / "js" / "added.js").write_text("export const x = 1;\n")
        assert "/js/added.js" in {e.url for e in cache.current().entries}

    def test_shell_bytes_served_match_the_precached_revision(self, web_copy: Path):
        with TestClient(pwa_app(web_copy, build="t")) as client:
            manifest = sw_manifest(client.get("/sw.js").text)
            shell = next(e for e in manifest["entries"] if e["url"] == "/")
            for route in APP_ROUTES:
                body = client.get(route).content
                assert hashlib.sha256(body).hexdigest() == shell["sha256"], route
