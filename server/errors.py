"""Refusals the engine gives, each naming the field at fault; the API turns them into HTTP 4xx."""

from __future__ import annotations


class HallqError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code

    def to_json(self) -> dict:
        body = {"error": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class Invalid(HallqError):
    """The request is well-formed but a value is not acceptable (HTTP 422)."""

    status = 422
    code = "invalid"


class NotFound(HallqError):
    status = 404
    code = "not_found"


class Conflict(HallqError):
    """The request is valid but not allowed in the current state (HTTP 409)."""

    status = 409
    code = "conflict"


class Unauthorized(HallqError):
    """No credentials, or ones this hall does not know (HTTP 401)."""

    status = 401
    code = "unauthorized"


class Forbidden(HallqError):
    status = 403
    code = "forbidden"


class TooMany(HallqError):
    """Too many requests of this kind from this token or address; try again after `retry_after`
    seconds (HTTP 429 with Retry-After)."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, field: str | None = None, code: str | None = None,
                 retry_after: float = 60.0) -> None:
        super().__init__(message, field, code)
        self.retry_after = retry_after


class Unavailable(HallqError):
    """The hall cannot do this now, and nothing was applied; try again after `retry_after` seconds
    (HTTP 503 with Retry-After)."""

    status = 503
    code = "unavailable"

    def __init__(self, message: str, field: str | None = None, code: str | None = None,
                 retry_after: float = 1.0) -> None:
        super().__init__(message, field, code)
        self.retry_after = retry_after


class Expired(Unavailable):
    """The request's deadline passed before it could be applied; it was not applied."""

    code = "expired"
