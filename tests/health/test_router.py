from app.config import APP_VERSION


class TestHealth:
    def test_reports_ok_and_version(self, client):
        response = client.get("/api/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "version": APP_VERSION}

    def test_the_database_was_migrated_on_start(self, client, settings):
        assert (settings.data_dir / "rest.db").is_file()
        client.get("/api/routines/quick-reset/session", params={"minutes": 3, "cues": "bells"})
        import sqlite3

        with sqlite3.connect(settings.data_dir / "rest.db") as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            (count,) = db.execute("SELECT count(*) FROM rendered_session").fetchone()
        assert {"alembic_version", "rendered_session", "media_asset"} <= tables
        assert count == 1
