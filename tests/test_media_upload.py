"""Display pictures uploaded through the API (POST /api/v1/config/media/<name>) on the real front:
the one route with a body limit above 64 KiB, read only after the app said the caller is an admin.
A refusal (anonymous, clerk, too large) comes before the body is sent; a body that is no PNG/JPEG,
or of no sane size, is a 422 naming it; an upload is offered at once, a delete only when unused;
every other route keeps its 64 KiB."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket

import pytest
from liveserver import serve_app
from PIL import Image
from test_display_media import hall_file

from hallq.config import load_config
from server.api import schemas
from server.app import create_app
from server.body_limits import CONFIG_BYTES, MEDIA_UPLOAD_BYTES

TOKENS = ('\n[[tokens]]\nname = "admin"\nrole = "admin"\ntoken = "t-admin"\n'
          '\n[[tokens]]\nname = "w1"\nrole = "window"\ntoken = "t-w1"\nwindow = 1\n')


def png(width: int = 64, height: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def hall(tmp_path):
    (tmp_path / "media").mkdir()
    (tmp_path / "media" / "welcome.png").write_bytes(png())
    path = hall_file(tmp_path, '["welcome.png"]')
    with open(path, "a", encoding="utf-8") as f:
        f.write(TOKENS)
    app = create_app(load_config(path), tmp_path / "hall.db", supervise=False)
    with serve_app(app) as base:
        yield base, tmp_path / "media", app


def call(base: str, method: str, path: str, body: bytes = b"", token: str | None = "t-admin",
         kind: str = "image/png") -> tuple[int, dict]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    try:
        headers = {"Content-Type": kind, "Request-Timeout-Ms": "20000"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn.request(method, path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read() or b"{}")
    finally:
        conn.close()


def head_only(base: str, path: str, length: int, token: str | None) -> tuple[int, bytes]:
    """Send a request head declaring `length` bytes of body and none of them: the answer must come
    (and the connection close) without the server waiting for the body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as s:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n{auth}"
                   f"Content-Length: {length}\r\n\r\n").encode())
        data = b""
        while chunk := s.recv(65536):  # ends when the server closes: it did not wait for the body
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1]


def test_refusals_come_before_the_body(hall):
    base, folder, _ = hall
    path = "/api/v1/config/media/big.png"
    status, body = head_only(base, path, 4 * 1024 * 1024, None)
    assert status == 401 and json.loads(body)["field"] == "Authorization"
    status, body = head_only(base, path, 4 * 1024 * 1024, "t-w1")  # a clerk's window token
    assert status == 403 and json.loads(body)["field"] == "Authorization"
    status, body = head_only(base, path, MEDIA_UPLOAD_BYTES + 1, "t-admin")
    assert status == 413 and json.loads(body)["field"] == "body"
    assert not (folder / "big.png").exists()


def test_64_kib_still_holds_for_every_other_route(hall):
    base, _, _ = hall
    for path in ("/api/v1/tickets", "/api/v1/config/versions/1/restore", "/api/v1/config/media/welcome.png/delete",
                 "/api/v1/config/media/big.png/x"):
        status, body = head_only(base, path, 64 * 1024 + 1, "t-admin")
        assert status == 413 and json.loads(body) == {
            "error": "request_entity_too_large", "field": "body", "message": "the body is limited to 64 KiB"}, path


def test_a_body_that_is_no_picture_or_of_no_sane_size_is_named(hall):
    base, folder, _ = hall
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 64)).save(jpeg, "JPEG")
    for name, body, field in [("a.png", b"hello, not a picture", "body"), ("a.png", png()[:60], "body"),
                              ("a.png", jpeg.getvalue(), "body"), ("a.png", png(8, 8), "body"),
                              ("a.png", png(9000, 20), "body"), ("a.png", b"", "body"),
                              ("a.gif", png(), "name"), (".hidden.png", png(), "name")]:
        status, answer = call(base, "POST", f"/api/v1/config/media/{name}", body)
        assert (status, answer.get("field")) == (422, field), (name, len(body), answer)
    assert sorted(p.name for p in folder.iterdir()) == ["welcome.png"]  # nothing left behind, no temp file


def test_upload_is_offered_at_once_and_deleted_only_when_unused(hall):
    base, folder, app = hall
    noisy = io.BytesIO()
    Image.frombytes("RGB", (400, 300), os.urandom(400 * 300 * 3)).save(noisy, "PNG")
    picture = noisy.getvalue()
    assert len(picture) > 300 * 1024  # far past the 64 KiB of every other route
    status, answer = call(base, "POST", "/api/v1/config/media/guide.png", picture)
    assert status == 201, answer
    schemas.MediaUploaded.model_validate(answer)  # the answer the document declares
    assert (answer["name"], answer["format"], answer["width"], answer["height"], answer["bytes"]) == \
        ("guide.png", "PNG", 400, 300, len(picture))
    assert (folder / "guide.png").read_bytes() == picture
    assert call(base, "GET", "/api/v1/config/media")[1]["files"] == ["guide.png", "welcome.png"]
    status, answer = call(base, "POST", "/api/v1/config/media/guide.png", png())
    assert (status, answer["field"]) == (409, "name")
    status, answer = call(base, "POST", "/api/v1/config/media/welcome.png/delete", b"{}", kind="application/json")
    assert (status, answer["field"]) == (409, "name")  # on the display
    status, answer = call(base, "POST", "/api/v1/config/media/guide.png/delete", b"{}", kind="application/json")
    assert (status, answer["files"]) == (200, ["welcome.png"])
    schemas.MediaFiles.model_validate(answer)
    status, answer = call(base, "POST", "/api/v1/config/media/guide.png/delete", b"{}", kind="application/json")
    assert (status, answer["field"]) == (404, "name")
    status, _ = call(base, "POST", "/api/v1/config/media/x.png/delete", b"{}", token="t-w1", kind="application/json")
    assert status == 403


def test_a_whole_hall_over_64_kib_is_taken_from_an_admin_and_refused_unread_from_others(hall):
    """A large centre's configuration is more than 64 KiB (the city centre's is ~60 KB as JSON, more
    with long 一次告知 lists): POST /config and /config/import take up to 1 MiB, read only once the
    caller is known to be an admin; anyone else is refused before the body."""
    base, _, _ = hall
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=20)
    conn.request("GET", "/api/v1/config/export", headers={"Authorization": "Bearer t-admin"})
    toml = conn.getresponse().read().decode()
    conn.close()
    toml += "".join(f"# 一次告知补充说明第 {i} 行：请携带身份证原件及复印件、申请表一式两份\n" for i in range(1500))
    body = json.dumps({"toml": toml, "note": "大厅配置导入"}, ensure_ascii=False).encode()
    assert 64 * 1024 < len(body) < CONFIG_BYTES
    status, answer = call(base, "POST", "/api/v1/config/import", body, kind="application/json")
    assert status in (200, 201), answer
    for path in ("/api/v1/config", "/api/v1/config/import"):
        status, answer = head_only(base, path, len(body), None)
        assert status == 401 and json.loads(answer)["field"] == "Authorization"
        status, answer = head_only(base, path, len(body), "t-w1")
        assert status == 403
        status, answer = head_only(base, path, CONFIG_BYTES + 1, "t-admin")
        assert status == 413 and json.loads(answer)["message"] == "the body is limited to 1 MiB"
