"""Reason codes: the one table of why a frame or a request was refused.

Every refusal on the wire carries one of these codes. `docs/protocol.md` lists the same table;
a test keeps the two in step.
"""

from enum import IntEnum


class Reason(IntEnum):
    # Frame level: the frame could not be trusted, so the error reply carries sequence 0.
    BAD_CRC = 0x01
    BAD_FRAMING = 0x02
    FRAME_TOO_SHORT = 0x03
    FRAME_TOO_LONG = 0x04
    UNSUPPORTED_VERSION = 0x05
    UNKNOWN_FLAGS = 0x06
    BAD_LENGTH = 0x07
    # Message level: the frame was sound but the message is not one the pump can parse.
    UNKNOWN_MESSAGE = 0x10
    BAD_PAYLOAD = 0x11
    WRONG_DIRECTION = 0x12
    # Application level: the pump understood and refused.
    VALUE_OUT_OF_RANGE = 0x20
    WRONG_STATE = 0x21
    CONFIRMATION_REQUIRED = 0x22
    DRUG_LIMIT = 0x23
    DOSE_CHANGE_LIMIT = 0x24
    DOSE_REENTRY_REQUIRED = 0x25
    NOT_PERMITTED = 0x26
    LOCKOUT = 0x27
    DAILY_LIMIT = 0x28
    NO_DRUG = 0x29
    NO_SUCH_ALARM = 0x2A
    NOTHING_STAGED = 0x2B
    DIGEST_MISMATCH = 0x2C
    # Security: the request is refused before it is looked at.
    NOT_AUTHENTICATED = 0x30
    UNKNOWN_SESSION = 0x31
    BAD_TAG = 0x32
    REPLAYED = 0x33
    AUTH_FAILED = 0x34
    RATE_LIMITED = 0x35
    LOCKED_OUT = 0x36
    FORBIDDEN = 0x37
    NO_KEY = 0x38
    UNKNOWN_CHALLENGE = 0x39
    # The pump failed to handle a well-formed request; pump state is unchanged.
    INTERNAL_ERROR = 0x7F

    @property
    def describe(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[Reason, str] = {
    Reason.BAD_CRC: "frame check sequence does not match the frame contents",
    Reason.BAD_FRAMING: "bytes between delimiters are not validly SLIP-stuffed",
    Reason.FRAME_TOO_SHORT: "decoded frame shorter than header plus CRC",
    Reason.FRAME_TOO_LONG: "frame longer than the maximum frame length",
    Reason.UNSUPPORTED_VERSION: "protocol version byte is not one the receiver speaks",
    Reason.UNKNOWN_FLAGS: "flags byte has a bit the receiver does not know (frame dropped)",
    Reason.BAD_LENGTH: "length field disagrees with the payload actually received",
    Reason.UNKNOWN_MESSAGE: "message type is not defined for this direction",
    Reason.BAD_PAYLOAD: "payload does not match the message layout",
    Reason.WRONG_DIRECTION: "a reply sent to the pump, or a request sent to the programmer",
    Reason.VALUE_OUT_OF_RANGE: "a field is outside its allowed range",
    Reason.WRONG_STATE: "the request is not allowed in the pump's current state",
    Reason.CONFIRMATION_REQUIRED: "the request needs an explicit confirmation flag",
    Reason.DRUG_LIMIT: "a dose above the drug library's hard limit",
    Reason.DOSE_CHANGE_LIMIT: "a daily dose above what the last 24 h allow (section 9)",
    Reason.DOSE_REENTRY_REQUIRED: "a new concentration without the dose entered again",
    Reason.NOT_PERMITTED: "nothing programmed permits this (e.g. no patient bolus limits)",
    Reason.LOCKOUT: "a patient bolus within the lockout interval of the last one",
    Reason.DAILY_LIMIT: "the patient bolus count over the last 24 h is reached",
    Reason.NO_DRUG: "the reservoir holds no usable drug",
    Reason.NO_SUCH_ALARM: "acknowledging an alarm that is not active",
    Reason.NOTHING_STAGED: "a commit with no prescription staged in this session",
    Reason.DIGEST_MISMATCH: "a commit (or refill) quoting a digest other than the staged one",
    Reason.NOT_AUTHENTICATED: "a request that needs a session, sent without one",
    Reason.UNKNOWN_SESSION: "a session the pump does not have (closed, expired, replaced)",
    Reason.BAD_TAG: "the frame's HMAC tag does not match",
    Reason.REPLAYED: "an old counter on a frame that is not a retransmission: never executed",
    Reason.AUTH_FAILED: "a session proof that does not match the role's key",
    Reason.RATE_LIMITED: "the key-verification budget is spent: wait, then open again",
    Reason.LOCKED_OUT: "version 1's lockout; never sent by a version 2 pump",
    Reason.FORBIDDEN: "the session's role may not send this request",
    Reason.NO_KEY: "the pump holds no key for the requested role",
    Reason.UNKNOWN_CHALLENGE: "a proof for a challenge the pump does not hold (used, expired)",
    Reason.INTERNAL_ERROR: "the pump could not handle the request; nothing was changed",
}
