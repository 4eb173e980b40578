"""Who may send what: roles are bound to keys, and each role has a list of requests.

Without a session only identity and session opening are answered. Clinician: everything.
Patient: status, the patient bolus (within the limits the clinician programmed) and the
outcome of its own earlier requests. Read-only: interrogation, nothing that changes the pump.
"""

from protocol.auth import Role
from protocol.messages import MessageType

UNAUTHENTICATED = frozenset({MessageType.HELLO, MessageType.SESSION_OPEN, MessageType.SESSION_AUTH})

# Requests that change the pump or its clock. Each ends in done, not done, or outcome
# unknown; the pump remembers their outcomes for GET_OUTCOME (docs/protocol.md, section 5).
CHANGING = frozenset(
    {
        MessageType.COMMIT_PRESCRIPTION,
        MessageType.BOLUS,
        MessageType.PRIME,
        MessageType.PATIENT_BOLUS,
        MessageType.STOP,
        MessageType.START,
        MessageType.REFILL,
        MessageType.ACK_ALARM,
        MessageType.SET_CLOCK,
    }
)

_READ = frozenset(
    {
        MessageType.GET_STATUS,
        MessageType.GET_PRESCRIPTION,
        MessageType.GET_ALARMS,
        MessageType.READ_LOG,
        MessageType.READ_LOG_PAGES,
        MessageType.GET_CLOCK,
        MessageType.GET_LIMITS,
    }
)
_SESSION = frozenset({MessageType.SESSION_CLOSE, MessageType.GET_OUTCOME})

PERMITTED: dict[Role, frozenset[MessageType]] = {
    Role.CLINICIAN: frozenset(t for t in MessageType if t not in UNAUTHENTICATED),
    Role.PATIENT: frozenset({MessageType.GET_STATUS, MessageType.PATIENT_BOLUS}) | _SESSION,
    Role.READ_ONLY: _READ | _SESSION,
}


def permitted(role: Role, msg_type: int) -> bool:
    return msg_type in PERMITTED[role]
