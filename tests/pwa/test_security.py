from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.testclient import TestClient

from app.pwa.precache import WEB_DIR
from app.security import add_security_headers


class TestSecurityHeaders:
    def test_shell_gets_a_strict_csp_without_unsafe_inline(self, web_client: TestClient):
        csp = web_client.get("/").headers["content-security-policy"]
        directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'"
        assert directives["style-src"] == "'self'"
        assert directives["object-src"] == "'none'"
        assert directives["frame-ancestors"] == "'none'"
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp

    def test_other_headers_on_every_response(self, web_client: TestClient):
        for url in ("/", "/sw.js", "/js/offline.js", "/nowhere"):
            headers = web_client.get(url).headers
            assert headers["x-content-type-options"] == "nosniff", url
            assert headers["referrer-policy"] == "no-referrer", url
            assert headers["cross-origin-opener-policy"] == "same-origin", url

    def test_api_answers_get_a_policy_that_lets_a_page_load_nothing(self, client: TestClient):
        # The whole app: a replayed answer (the second) and refusals as well as routes.
        for url in ("/api/health", "/api/routines", "/api/routines", "/api/routines/x",
                    "/api/sync/pull", "/api/nowhere"):
            answer = client.get(url)
            csp = answer.headers["content-security-policy"]
            directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
            assert directives == {"default-src": "'none'", "object-src": "'none'",
                                  "base-uri": "'none'", "frame-ancestors": "'none'"}, url
            assert answer.headers["x-content-type-options"] == "nosniff", url
            assert answer.headers["referrer-policy"] == "no-referrer", url
            assert answer.headers["cross-origin-opener-policy"] == "same-origin", url
            assert "permissions-policy" not in answer.headers, url

    def test_pages_keep_the_page_policy_and_permissions(self, client: TestClient):
        for url in ("/", "/sw.js", "/nowhere"):
            headers = client.get(url).headers
            assert "default-src 'self'" in headers["content-security-policy"], url
            assert headers["permissions-policy"].startswith("camera=()"), url

    def test_hsts_only_over_https(self):
        with TestClient(_app(), base_url="http://testserver") as plain:
            assert "strict-transport-security" not in plain.get("/file").headers
        with TestClient(_app(), base_url="https://testserver") as secure:
            assert secure.get("/file").headers["strict-transport-security"].startswith("max-age=")

    def test_range_responses_pass_through_untouched(self):
        with TestClient(_app()) as client:
            response = client.get("/file", headers={"Range": "bytes=10-19"})
        data = (WEB_DIR / "icons" / "icon-192.png").read_bytes()
        assert response.status_code == 206
        assert response.headers["content-range"] == f"bytes 10-19/{len(data)}"
        assert response.content == data[10:20]
        assert response.headers["x-content-type-options"] == "nosniff"


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/file")
    def file() -> FileResponse:
        return FileResponse(WEB_DIR / "icons" / "icon-192.png")

    add_security_headers(app)
    return app
