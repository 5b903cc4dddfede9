"""A configurable HTTP SMS adapter: many provincial SMS platforms take a JSON POST instead of CMPP.

The body is a JSON template whose string values may hold {phone} and {text}; the answer counts as
taken when the status is 2xx and, if `ok_field` is set, the JSON answer's `ok_field` equals
`ok_value` (platforms answer 200 with {"code": "0"} or {"code": "1021", "msg": ...}). The message id
is read from `id_field`. 5xx, 429, timeouts and refused connections are worth a retry; other 4xx
and a wrong code are refusals for good.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from drivers.sms import SendFailed

DEFAULT_BODY = '{"mobile": "{phone}", "content": "{text}"}'


class HttpSms:
    def __init__(self, url: str, *, body: str = DEFAULT_BODY, headers: dict[str, str] | None = None,
                 ok_field: str = "code", ok_value: str = "0", id_field: str = "msgid", timeout: float = 5.0) -> None:
        self.url, self.template, self.headers = url, json.loads(body), dict(headers or {})
        self.ok_field, self.ok_value, self.id_field, self.timeout = ok_field, ok_value, id_field, timeout
        self.online = True  # until a send says otherwise; HTTP has no link to watch

    def _body(self, phone: str, text: str) -> bytes:
        def fill(value):
            if isinstance(value, str):
                return value.replace("{phone}", phone).replace("{text}", text)
            if isinstance(value, dict):
                return {k: fill(v) for k, v in value.items()}
            if isinstance(value, list):
                return [fill(v) for v in value]
            return value

        return json.dumps(fill(self.template), ensure_ascii=False).encode("utf-8")

    def send(self, phone: str, text: str, key: str | None = None) -> str:
        """One POST: the platform takes the whole text or none of it, so `key` needs no memory here."""
        req = urllib.request.Request(self.url, data=self._body(phone, text), method="POST",
                                     headers={"Content-Type": "application/json; charset=utf-8", **self.headers})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            retry = exc.code >= 500 or exc.code == 429
            self.online = not retry
            raise SendFailed(f"SMS platform answered HTTP {exc.code}", retry=retry) from None
        except (OSError, ValueError) as exc:
            self.online = False
            raise SendFailed(f"SMS platform unreachable: {exc}") from None
        self.online = True
        try:
            answer = json.loads(raw or b"{}")
        except ValueError:
            answer = {}
        if self.ok_field and str(answer.get(self.ok_field)) != self.ok_value:
            raise SendFailed(f"SMS platform refused the message: {self.ok_field}={answer.get(self.ok_field)!r} "
                             f"{answer.get('msg') or answer.get('message') or ''}".strip(), retry=False)
        return str(answer.get(self.id_field, ""))

    def close(self) -> None:
        pass
