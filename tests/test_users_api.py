"""Web users administered through the API (the admin pages' calls): add, reset a password, disable,
unlock a name locked by failed sign-ins; admins only."""

from __future__ import annotations

from webhall import make_app, page_csrf


def sign_in_as(client, username: str, password: str):
    token = page_csrf(client)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def admin_post(client, path: str, body=None):
    return client.post(f"/api/v1{path}", json=body or {}, headers={"Authorization": "Bearer t-admin"})


def test_add_reset_disable_and_unlock_a_user(tmp_path):
    app = make_app(tmp_path / "users.db", all_day=True)
    api = app.test_client()
    made = admin_post(api, "/users", {"username": "c1003", "password": "first-pass", "role": "clerk", "staff": "1003"})
    assert made.status_code == 201 and made.json["role_name"] == "窗口人员"
    for _ in range(5):
        assert sign_in_as(app.test_client(), "c1003", "wrong-pass").status_code == 401
    assert sign_in_as(app.test_client(), "c1003", "first-pass").status_code == 429  # locked, even with the right one
    users = {u["username"]: u for u in api.get("/api/v1/users", headers={"Authorization": "Bearer t-admin"}).json["users"]}
    assert users["c1003"]["locked_minutes"] == 15
    assert admin_post(api, "/users/c1003/unlock").json["locked_minutes"] == 0
    assert sign_in_as(app.test_client(), "c1003", "first-pass").status_code == 302
    assert admin_post(api, "/users/c1003/password", {"password": "second-pass"}).status_code == 200
    assert sign_in_as(app.test_client(), "c1003", "first-pass").status_code == 401
    assert sign_in_as(app.test_client(), "c1003", "second-pass").status_code == 302
    assert admin_post(api, "/users/c1003/active", {"active": False}).json["active"] is False
    assert sign_in_as(app.test_client(), "c1003", "second-pass").status_code == 401
    assert admin_post(api, "/users/nobody/unlock").status_code == 404
    short = admin_post(api, "/users", {"username": "x1", "password": "short", "role": "supervisor"})
    assert (short.status_code, short.json["field"]) == (422, "password")


def test_only_admins_manage_users(tmp_path):
    app = make_app(tmp_path / "users.db", all_day=True)
    api = app.test_client()
    for token in ("t-sup", "t-kiosk", "t-w3"):
        answer = api.post("/api/v1/users/sup/unlock", json={}, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 403
