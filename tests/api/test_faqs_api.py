def test_faqs_are_listed_with_the_demo_content(api_client, auth_headers):
    response = api_client.get("/api/faqs", headers=auth_headers)
    assert response.status_code == 200
    keys = [entry["key"] for entry in response.json()]
    assert keys == sorted(["parking", "what_to_bring", "hours", "insurance", "records", "telehealth", "cost"])


def test_faqs_need_the_token(api_client):
    assert api_client.get("/api/faqs").status_code == 401
    assert api_client.put("/api/faqs/parking", json={}).status_code == 401


def test_put_creates_and_replaces(api_client, auth_headers, fresh_demo):
    body = {
        "question": "Do you have wifi?",
        "examples": ["is there wifi"],
        "answer": "Yes, the network is RiversideGuest.",
    }
    created = api_client.put("/api/faqs/wifi", headers=auth_headers, json=body)
    assert created.status_code == 200 and created.json()["key"] == "wifi"
    body["answer"] = "Yes: RiversideGuest, no password."
    replaced = api_client.put("/api/faqs/wifi", headers=auth_headers, json=body)
    assert replaced.json()["answer"] == "Yes: RiversideGuest, no password."
    listed = {e["key"]: e["answer"] for e in api_client.get("/api/faqs", headers=auth_headers).json()}
    assert listed["wifi"] == "Yes: RiversideGuest, no password."


def test_bad_content_is_refused_with_a_reason_and_changes_nothing(api_client, auth_headers, fresh_demo):
    before = api_client.get("/api/faqs", headers=auth_headers).json()
    cases = [
        {
            "question": "Where do I park?",
            "examples": [],
            "answer": "It\u2019s in the garage \U0001f697",
        },  # curly quote, emoji
        {"question": "Where do I park?", "examples": [], "answer": "x" * 400},  # three segments
        {"question": "", "examples": [], "answer": "In the garage."},
        {"question": "Where do I park?", "examples": "not a list", "answer": "In the garage."},
    ]
    for body in cases:
        response = api_client.put("/api/faqs/parking", headers=auth_headers, json=body)
        assert response.status_code == 422
        assert response.json()["detail"]
    assert "SMS alphabet" in str(api_client.put("/api/faqs/parking", headers=auth_headers, json=cases[0]).json())
    assert api_client.put("/api/faqs/Bad Key!", headers=auth_headers, json=cases[2]).status_code in (404, 422)
    assert api_client.get("/api/faqs", headers=auth_headers).json() == before


def test_a_spanish_answer_is_kept_and_checked_like_the_english_one(api_client, auth_headers, fresh_demo):
    body = {"question": "Do you have wifi?", "examples": [], "answer": "Yes: RiversideGuest.",
            "answer_es": "Si: la red es RiversideGuest."}  # fmt: skip
    saved = api_client.put("/api/faqs/wifi", headers=auth_headers, json=body)
    assert saved.status_code == 200 and saved.json()["answer_es"] == "Si: la red es RiversideGuest."
    assert saved.json()["retired"] is False
    # An accented vowel is outside GSM-7: the whole text would go out as UCS-2 (see SPANISH.md).
    refused = api_client.put("/api/faqs/wifi", headers=auth_headers, json=body | {"answer_es": "Sí, la red."})
    assert refused.status_code == 422 and "GSM-7" in refused.text
    listed = {e["key"]: e for e in api_client.get("/api/faqs", headers=auth_headers).json()}
    assert listed["wifi"]["answer_es"] == "Si: la red es RiversideGuest."
    # Leaving it out keeps none: the English answer is used meanwhile.
    cleared = api_client.put(
        "/api/faqs/wifi", headers=auth_headers, json={k: v for k, v in body.items() if k != "answer_es"}
    )
    assert cleared.json()["answer_es"] is None
