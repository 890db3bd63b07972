class TestErrorEnvelope:
    def test_unknown_api_path_is_404_in_the_envelope(self, client):
        response = client.get("/api/nothing-here")
        assert response.status_code == 404
        assert response.json() == {"error": "NOT_FOUND", "detail": "Not Found"}

    def test_wrong_method_is_405_in_the_envelope(self, client):
        response = client.post("/api/routines", headers={"X-Requested-With": "rest-guide"})
        assert response.status_code == 405
        assert response.json()["error"] == "METHOD_NOT_ALLOWED"

    def test_405_names_every_method_of_the_path(self, client):
        # Setting and removing a reminder are two routes on one path.
        response = client.post("/api/reminders", headers={"X-Requested-With": "rest-guide"},
                               json={})
        assert response.status_code == 405
        assert response.headers["allow"] == "PUT, DELETE"
