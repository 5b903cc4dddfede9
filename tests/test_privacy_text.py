"""Phone and ID numbers typed into free text (rating comments, case notes) are masked when stored and
in every view, like every other phone and ID number."""

import pytest
from webhall import make_app, serve_one, sign_in

from server.privacy import mask_text
from server.store import Changes

PHONE, ID = "13812345678", "420106199001011234"


@pytest.mark.parametrize("typed, shown", [
    ("请回电13812345678谢谢", "请回电138****5678谢谢"),
    ("电话 138 1234 5678", "电话 138****5678"),
    ("+86 138-1234-5678", "+86 138****5678"),
    ("１３８１２３４５６７８", "138****5678"),  # full-width digits from a Chinese IME
    ("请回电138－1234－5678", "请回电138****5678"),  # full-width dashes, as an IME types them
    ("138.1234.5678", "138****5678"),
    ("请到３号窗口", "请到３号窗口"),  # full-width digits that are no number stay as typed
    ("身份证420106199001011234", "身份证4201**********1234"),
    ("420106 19900101 123X", "4201**********123X"),
    ("座机0571-88886666", "座机057****6666"),
    ("卡号6222020200112233445", "卡号622****3445"),
    ("A023号 2026-11-23 10:30 等了45分钟，3号窗口", "A023号 2026-11-23 10:30 等了45分钟，3号窗口"),
    ("", ""),
    (None, None),
])
def test_mask_text(typed, shown):
    assert mask_text(typed) == shown


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path / "hall.db")


def test_rating_comment_is_stored_masked_and_shown_masked(app):
    engine = app.config["ENGINE"]
    t = serve_one(engine)
    comment = f"态度差，请打{PHONE}回访，身份证{ID}"
    r = app.test_client().post("/api/v1/ratings", json={"grade": 1, "channel": "qr", "ticket": t.id,
                                                        "comment": comment})
    assert r.status_code == 201
    store = engine.store
    for table in ("ratings", "cases"):
        [stored] = store.rows(f"SELECT comment FROM {table}")
        assert stored["comment"] == "态度差，请打138****5678回访，身份证4201**********1234", table
    sup = {"Authorization": "Bearer t-sup"}
    client = app.test_client()
    for body in (client.get("/api/v1/cases", headers=sup).get_data(as_text=True),
                 client.get("/api/v1/cases/1", headers=sup).get_data(as_text=True)):
        assert PHONE not in body and ID not in body and "138****5678" in body


def test_case_notes_are_masked_and_rows_written_before_masking_are_masked_in_views(app):
    engine, book = app.config["ENGINE"], app.config["CASES"]
    serve_one(engine)
    engine.rate(1, "evaluator", window=1)
    book.act(1, "call-back", "sup", f"已回访，群众留的号码 {PHONE}", contact="phone", answer="satisfied")
    assert PHONE not in book.steps(1)[-1]["note"]
    # A comment and a note stored by an older version, unmasked.
    ch = Changes()
    ch.put("cases", {**book.get(1), "comment": f"打{PHONE}"})
    ch.put("case_steps", {"case_id": 1, "action": "note", "from_state": "called_back", "to_state": "called_back",
                          "by": "sup", "at": "2026-11-23T09:30:00+08:00", "note": f"身份证{ID}"})
    engine.store.commit(ch)
    api = app.test_client().get("/api/v1/cases/1", headers={"Authorization": "Bearer t-sup"})
    assert api.json["comment"] == "打138****5678"
    assert [s["note"] for s in api.json["steps"]][-1] == "身份证4201**********1234"
    page = app.test_client()
    sign_in(page, "sup")
    html = page.get("/cases/1").get_data(as_text=True)
    assert PHONE not in html and ID not in html and "138****5678" in html
