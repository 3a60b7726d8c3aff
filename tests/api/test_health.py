def test_health_reports_each_component_and_fails_when_rasa_is_down(api_client, rasa_stopped):
    response = api_client.get("/health")
    body = response.json()
    assert body["components"]["database"] == "ok"
    assert body["components"]["redis"] == "ok"
    assert body["components"]["rasa"] == "down"
    assert response.status_code == 503 and body["status"] == "degraded"
    assert "+1312" not in response.text
