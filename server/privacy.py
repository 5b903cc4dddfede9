"""Masking of citizen data: every response, page and display shows only what the service needs."""

from __future__ import annotations

import re


def mask_phone(phone: str | None) -> str | None:
    """13812345678 -> 138****5678; short numbers keep only their last 4 digits."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) >= 11:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) > 4:
        return "*" * (len(digits) - 4) + digits[-4:]
    return "****"


def mask_id_number(id_number: str | None) -> str | None:
    """420106199001011234 -> 4201**********1234."""
    if not id_number:
        return id_number
    if len(id_number) <= 8:
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def mask_name(name: str | None) -> str | None:
    """张三丰 -> 张*丰; 张三 -> 张*; a single character stays (nothing to hide)."""
    if not name or len(name) == 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


# Phone and ID numbers a citizen types into free text (a rating comment, a note about a call-back).
# Full-width digits (a Chinese IME's) are read as digits. Shapes, longest first: an 18-character ID
# number (6-8-4 groups may be spaced), a mobile number (3-4-4, optionally +86), a landline with its
# area code, and any other run of 7 or more digits (local numbers, old 15-digit IDs, bank cards).
# Dates such as 2026-11-23 or 10:30 are shorter runs and stay as typed.
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
_D = "[0-9０-９]"  # digits as typed: Chinese input methods often give full-width ones
_S = "[ \\-－.．]?"  # separators as typed, full-width ones too
_NUMBER_IN_TEXT = re.compile(
    rf"(?<![0-9０-９])(?:"
    rf"(?P<id>{_D}{{6}}{_S}{_D}{{8}}{_S}{_D}{{3}}[0-9０-９Xx])"
    rf"|(?P<cc>\+?86{_S})?(?P<mobile>[1１][3-9３-９]{_D}{_S}{_D}{{4}}{_S}{_D}{{4}})"
    rf"|(?P<landline>[0０]{_D}{{2,3}}[ \-－]{_D}{{7,8}})"
    rf"|(?P<digits>{_D}{{7,}})"
    rf")(?![0-9０-９])"
)


def _plain(number: str) -> str:
    """A matched number's digits only, in ASCII: the rest of the text is left as it was typed."""
    return re.sub(r"[ \-－.．]", "", number.translate(_FULL_WIDTH_DIGITS))


def _mask_match(m: re.Match) -> str:
    if m["id"]:
        return mask_id_number(_plain(m["id"]))
    if m["mobile"]:
        return (m["cc"] or "") + mask_phone(_plain(m["mobile"]))
    return mask_phone(_plain(m["landline"] or m["digits"]))


def mask_text(text: str | None) -> str | None:
    """Free text with every phone-like and ID-like number in it masked: "请回电13812345678" ->
    "请回电138****5678". The ticket keeps the citizen's own phone for the call-back, so nothing is lost."""
    if not text:
        return text
    return _NUMBER_IN_TEXT.sub(_mask_match, text)
