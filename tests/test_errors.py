class TestErrorEnvelope:
    def test_unknown_api_path_is_404_in_the_envelope(self, client):
        response = client.get("/api/nothing-here")
        assert response.status_code == 404
        assert response.json() == {"error": "NOT_FOUND", "detail": "Not Found"}

    def test_wrong_method_is_405_in_the_envelope(self, client):
        response = client.post("/api/routines", headers={"X-Requested-With": "rest-guide"})
        assert response.status_code == 405
        assert response.json()["error"] == "METHOD_NOT_ALLOWED"
