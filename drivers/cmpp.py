"""CMPP 2.0 (China Mobile Peer to Peer, the SP <-> ISMG protocol many government SMS platforms
speak): the PDUs as bytes, and nothing else — no sockets, no queues, no tickets.

Every PDU is a 12-byte header (Total_Length, Command_Id, Sequence_Id; unsigned 32-bit, network
order) and a body of fixed-width fields. Octet strings are left-aligned and NUL padded. Only CMPP
2.0 layouts here (CONNECT_RESP's Status is 1 byte, Fee_terminal_Id and terminal ids are 21 bytes;
CMPP 3.0 widens them).

Chinese text goes as UCS-2 (Msg_Fmt 8). A text longer than one message (70 UCS-2 characters,
140 bytes) is cut into segments of 67 characters, each with TP_udhi = 1 and the 6-byte user data
header 05 00 03 <ref> <total> <number> in front of its text, as handsets reassemble them.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from datetime import datetime

HEADER = struct.Struct(">III")
HEADER_SIZE = HEADER.size
MAX_PDU = 4096  # no CMPP 2.0 PDU comes close; anything longer is garbage or an attack

CONNECT = 0x00000001
CONNECT_RESP = 0x80000001
TERMINATE = 0x00000002
TERMINATE_RESP = 0x80000002
SUBMIT = 0x00000004
SUBMIT_RESP = 0x80000004
DELIVER = 0x00000005
DELIVER_RESP = 0x80000005
ACTIVE_TEST = 0x00000008
ACTIVE_TEST_RESP = 0x80000008

VERSION = 0x20  # CMPP 2.0
UCS2 = 8  # Msg_Fmt: UCS-2
ASCII = 0
GB = 15  # Msg_Fmt 15: GB18030 (GBK) text, what handsets' MO messages often come in
SINGLE_BYTES = 140  # one message's Msg_Content at most
UDH_SIZE = 6
SEGMENT_CHARS = (SINGLE_BYTES - UDH_SIZE) // 2  # 67 UCS-2 characters per segment
SINGLE_CHARS = SINGLE_BYTES // 2  # 70

CONNECT_STATUS = {0: "ok", 1: "bad structure", 2: "bad source address", 3: "authentication failed",
                  4: "version too high", 5: "other error"}
SUBMIT_RESULT = {0: "ok", 1: "bad structure", 2: "bad command", 3: "duplicate sequence", 4: "bad length",
                 5: "bad fee code", 6: "message too long", 7: "bad service id", 8: "flow control",
                 9: "other error"}


class ProtocolError(Exception):
    """Bytes that are no CMPP PDU (bad length, truncated body)."""


@dataclass(frozen=True)
class Pdu:
    command: int
    sequence: int
    body: bytes = b""

    def encode(self) -> bytes:
        return HEADER.pack(HEADER_SIZE + len(self.body), self.command, self.sequence) + self.body


def octets(text: str | bytes, size: int) -> bytes:
    raw = text.encode("ascii") if isinstance(text, str) else text
    if len(raw) > size:
        raise ValueError(f"{raw!r} is longer than its {size}-byte field")
    return raw.ljust(size, b"\0")


def text_of(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii", "replace")


class Reader:
    """Takes bytes as they come off a socket and yields whole PDUs (a PDU may arrive in pieces,
    several in one piece)."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[Pdu]:
        self.buffer += data
        out = []
        while len(self.buffer) >= HEADER_SIZE:
            length, command, sequence = HEADER.unpack_from(self.buffer)
            if not HEADER_SIZE <= length <= MAX_PDU:
                raise ProtocolError(f"PDU length {length} outside {HEADER_SIZE}..{MAX_PDU}")
            if len(self.buffer) < length:
                break
            out.append(Pdu(command, sequence, bytes(self.buffer[HEADER_SIZE:length])))
            del self.buffer[:length]
        return out


# ------------------------------------------------------------------ CONNECT


def timestamp(now: datetime) -> tuple[str, int]:
    """MMDDHHMMSS as text (inside the authenticator) and as the number in the Timestamp field."""
    text = now.strftime("%m%d%H%M%S")
    return text, int(text)


def authenticator_source(sp_id: str, secret: str, stamp: str) -> bytes:
    """MD5(Source_Addr + 9 zero bytes + shared secret + timestamp), CMPP 2.0 §7.4.1."""
    return hashlib.md5(sp_id.encode("ascii") + b"\0" * 9 + secret.encode("ascii") + stamp.encode("ascii")).digest()


def authenticator_ismg(status: int, source_auth: bytes, secret: str) -> bytes:
    """MD5(Status + AuthenticatorSource + shared secret): the gateway proves it knows the secret too."""
    return hashlib.md5(bytes([status]) + source_auth + secret.encode("ascii")).digest()


def connect(sequence: int, sp_id: str, secret: str, now: datetime) -> tuple[Pdu, bytes]:
    stamp, number = timestamp(now)
    auth = authenticator_source(sp_id, secret, stamp)
    body = octets(sp_id, 6) + auth + bytes([VERSION]) + struct.pack(">I", number)
    return Pdu(CONNECT, sequence, body), auth


@dataclass(frozen=True)
class Connect:
    sp_id: str
    authenticator: bytes
    version: int
    timestamp: int

    def valid(self, secret: str) -> bool:
        return authenticator_source(self.sp_id, secret, f"{self.timestamp:010d}") == self.authenticator


def parse_connect(body: bytes) -> Connect:
    _need(body, 27, "CMPP_CONNECT")
    return Connect(text_of(body[:6]), body[6:22], body[22], struct.unpack(">I", body[23:27])[0])


def connect_resp(sequence: int, status: int, source_auth: bytes, secret: str) -> Pdu:
    return Pdu(CONNECT_RESP, sequence, bytes([status]) + authenticator_ismg(status, source_auth, secret) + bytes([VERSION]))


def parse_connect_resp(body: bytes) -> tuple[int, bytes, int]:
    _need(body, 18, "CMPP_CONNECT_RESP")
    return body[0], body[1:17], body[17]


# ------------------------------------------------------------------ SUBMIT


@dataclass(frozen=True)
class Submit:
    dest: str  # the phone number
    content: bytes  # Msg_Content as sent (UDH included when udhi)
    src_id: str = ""
    service_id: str = ""
    sp_id: str = ""  # Msg_src
    msg_fmt: int = UCS2
    udhi: int = 0
    pk_total: int = 1
    pk_number: int = 1
    registered_delivery: int = 1  # ask for a status report (CMPP_DELIVER with Registered_Delivery 1)

    def encode_body(self) -> bytes:
        return b"".join((
            b"\0" * 8,  # Msg_Id: the ISMG fills it in
            bytes([self.pk_total, self.pk_number, self.registered_delivery, 0]),  # ..., Msg_level
            octets(self.service_id, 10),
            bytes([0]),  # Fee_UserType 0: charge the destination
            octets("", 21),  # Fee_terminal_Id
            bytes([0, self.udhi, self.msg_fmt]),  # TP_pId, TP_udhi, Msg_Fmt
            octets(self.sp_id, 6),  # Msg_src
            octets("01", 2),  # FeeType 01: free
            octets("0", 6),  # FeeCode
            octets("", 17), octets("", 17),  # ValId_Time, At_Time: the ISMG's defaults, at once
            octets(self.src_id, 21),
            bytes([1]), octets(self.dest, 21),  # DestUsr_tl, Dest_terminal_Id
            bytes([len(self.content)]), self.content,
            b"\0" * 8,  # Reserve
        ))


def parse_submit(body: bytes) -> Submit:
    _need(body, 117, "CMPP_SUBMIT")
    pk_total, pk_number, registered = body[8], body[9], body[10]
    service_id = text_of(body[12:22])
    udhi, fmt = body[45], body[46]
    sp_id = text_of(body[47:53])
    src_id = text_of(body[95:116])
    count = body[116]
    pos = 117 + 21 * count
    _need(body, pos + 1, "CMPP_SUBMIT")
    dests = [text_of(body[117 + 21 * i:138 + 21 * i]) for i in range(count)]
    length = body[pos]
    content = body[pos + 1:pos + 1 + length]
    if len(content) != length:
        raise ProtocolError("CMPP_SUBMIT: Msg_Content shorter than Msg_Length")
    return Submit(dests[0] if dests else "", content, src_id, service_id, sp_id, fmt, udhi, pk_total, pk_number,
                  registered)


def submit_resp(sequence: int, msg_id: int, result: int) -> Pdu:
    return Pdu(SUBMIT_RESP, sequence, struct.pack(">QB", msg_id, result))


def parse_submit_resp(body: bytes) -> tuple[int, int]:
    _need(body, 9, "CMPP_SUBMIT_RESP")
    return struct.unpack(">QB", body[:9])


def segments(text: str, ref: int) -> list[tuple[int, bytes]]:
    """(TP_udhi, Msg_Content) per message: one UCS-2 message up to 70 characters, else segments of
    67 each behind the 6-byte UDH (IEI 00, concatenated short messages, 8-bit reference)."""
    data = text.encode("utf-16-be")
    if len(data) <= SINGLE_BYTES:
        return [(0, data)]
    step = SEGMENT_CHARS * 2
    parts = [data[i:i + step] for i in range(0, len(data), step)]
    if len(parts) > 255:
        raise ValueError("text too long for one concatenated message")
    return [(1, bytes([5, 0, 3, ref & 0xFF, len(parts), n]) + part) for n, part in enumerate(parts, 1)]


def split_udh(content: bytes, udhi: int) -> tuple[tuple[int, int, int] | None, bytes]:
    """((ref, total, number) or None, text bytes) of a Msg_Content."""
    if not udhi or not content:
        return None, content
    size = content[0] + 1
    head, rest = content[:size], content[size:]
    if len(head) >= 6 and head[1] == 0 and head[2] == 3:
        return (head[3], head[4], head[5]), rest
    return None, rest


def decode_text(content: bytes, fmt: int) -> str:
    if fmt == UCS2:
        return content.decode("utf-16-be", "replace")
    if fmt == GB:
        return content.decode("gb18030", "replace")
    return content.decode("ascii", "replace")


# ------------------------------------------------------------------ DELIVER (reports and MO messages)


@dataclass(frozen=True)
class Report:
    msg_id: int
    stat: str  # DELIVRD, EXPIRED, UNDELIV, REJECTD, ...
    submit_time: str
    done_time: str
    dest: str

    def encode(self, smsc_sequence: int = 0) -> bytes:
        return (struct.pack(">Q", self.msg_id) + octets(self.stat, 7) + octets(self.submit_time, 10)
                + octets(self.done_time, 10) + octets(self.dest, 21) + struct.pack(">I", smsc_sequence))


@dataclass(frozen=True)
class Deliver:
    msg_id: int
    dest_id: str  # the SP's number the citizen wrote to
    src: str  # the citizen's phone
    msg_fmt: int
    content: bytes
    registered_delivery: int  # 1: content is a status report
    udhi: int = 0
    service_id: str = ""
    report: Report | None = field(default=None)

    def text(self) -> str:
        return decode_text(split_udh(self.content, self.udhi)[1], self.msg_fmt)

    def encode_body(self) -> bytes:
        return b"".join((
            struct.pack(">Q", self.msg_id), octets(self.dest_id, 21), octets(self.service_id, 10),
            bytes([0, self.udhi, self.msg_fmt]), octets(self.src, 21), bytes([self.registered_delivery]),
            bytes([len(self.content)]), self.content, b"\0" * 8,
        ))


def parse_deliver(body: bytes) -> Deliver:
    _need(body, 65, "CMPP_DELIVER")
    msg_id = struct.unpack(">Q", body[:8])[0]
    dest_id, service_id = text_of(body[8:29]), text_of(body[29:39])
    udhi, fmt = body[40], body[41]
    src, registered, length = text_of(body[42:63]), body[63], body[64]
    content = body[65:65 + length]
    if len(content) != length:
        raise ProtocolError("CMPP_DELIVER: Msg_Content shorter than Msg_Length")
    report = None
    if registered == 1:
        _need(content, 60, "CMPP_DELIVER status report")
        report = Report(struct.unpack(">Q", content[:8])[0], text_of(content[8:15]), text_of(content[15:25]),
                        text_of(content[25:35]), text_of(content[35:56]))
    return Deliver(msg_id, dest_id, src, fmt, content, registered, udhi, service_id, report)


def deliver_resp(sequence: int, msg_id: int, result: int = 0) -> Pdu:
    return Pdu(DELIVER_RESP, sequence, struct.pack(">QB", msg_id, result))


def active_test_resp(sequence: int) -> Pdu:
    return Pdu(ACTIVE_TEST_RESP, sequence, b"\0")


def _need(body: bytes, size: int, what: str) -> None:
    if len(body) < size:
        raise ProtocolError(f"{what}: body of {len(body)} bytes, at least {size} needed")
