import json
import struct

from fastapi.testclient import TestClient

from app.pwa.precache import APP_ROUTES, WEB_DIR


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


class TestShell:
    def test_every_app_route_serves_the_shell(self, web_client: TestClient):
        bodies = {route: web_client.get(route) for route in APP_ROUTES}
        for route, response in bodies.items():
            assert response.status_code == 200, route
            assert response.headers["content-type"].startswith("text/html")
            assert response.headers["cache-control"] == "no-cache"
        assert len({r.content for r in bodies.values()}) == 1

    def test_shell_links_manifest_and_apple_touch_icon(self, web_client: TestClient):
        html = web_client.get("/").text
        assert '<link rel="manifest" href="/manifest.webmanifest">' in html
        assert 'rel="apple-touch-icon" href="/icons/apple-touch-icon.png"' in html
        assert '<meta name="theme-color"' in html

    def test_unknown_page_is_not_the_shell(self, web_client: TestClient):
        assert web_client.get("/nowhere").status_code == 404


class TestWorkerScript:
    def test_served_from_the_root_as_javascript_never_cached_stale(self, web_client: TestClient):
        response = web_client.get("/sw.js")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.headers["cache-control"] == "no-cache"


class TestWebManifest:
    def test_manifest_fields_for_installation(self, web_client: TestClient):
        response = web_client.get("/manifest.webmanifest")
        assert response.headers["content-type"].startswith("application/manifest+json")
        manifest = response.json()
        assert manifest["display"] == "standalone"
        assert manifest["start_url"] == "/" and manifest["scope"] == "/"
        assert manifest["name"] and manifest["short_name"]
        assert manifest["theme_color"].startswith("#")
        assert manifest["background_color"].startswith("#")

    def test_icons_exist_with_the_sizes_they_claim(self, web_client: TestClient):
        icons = web_client.get("/manifest.webmanifest").json()["icons"]
        for icon in icons:
            response = web_client.get(icon["src"])
            assert response.status_code == 200, icon["src"]
            assert response.headers["content-type"] == "image/png"
            width, height = png_size(response.content)
            assert icon["sizes"] == f"{width}x{height}", icon["src"]
        purposes = {(icon["sizes"], icon.get("purpose", "any")) for icon in icons}
        assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= purposes

    def test_apple_touch_icon_is_180_square(self, web_client: TestClient):
        assert png_size(web_client.get("/icons/apple-touch-icon.png").content) == (180, 180)

    def test_manifest_file_is_valid_json(self):
        json.loads((WEB_DIR / "manifest.webmanifest").read_text())


class TestStaticFiles:
    def test_scripts_are_javascript_and_revalidated(self, web_client: TestClient):
        response = web_client.get("/js/offline.js")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.headers["cache-control"] == "no-cache"

    def test_conditional_request_gets_304(self, web_client: TestClient):
        etag = web_client.get("/js/offline.js").headers["etag"]
        assert web_client.get("/js/offline.js", headers={"If-None-Match": etag}).status_code == 304
