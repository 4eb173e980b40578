"""Who may send what: roles are bound to keys, and each role has a list of requests.

Without a session only identity and session opening are answered. Clinician: everything.
Patient: status and the patient bolus (within the limits the clinician programmed).
Read-only: interrogation, nothing that changes the pump.
"""

from protocol.auth import Role
from protocol.messages import MessageType

UNAUTHENTICATED = frozenset({MessageType.HELLO, MessageType.SESSION_OPEN, MessageType.SESSION_AUTH})

_READ = frozenset(
    {
        MessageType.GET_STATUS,
        MessageType.GET_PRESCRIPTION,
        MessageType.GET_ALARMS,
        MessageType.READ_LOG,
        MessageType.GET_CLOCK,
    }
)

PERMITTED: dict[Role, frozenset[MessageType]] = {
    Role.CLINICIAN: frozenset(t for t in MessageType if t not in UNAUTHENTICATED),
    Role.PATIENT: frozenset(
        {MessageType.GET_STATUS, MessageType.PATIENT_BOLUS, MessageType.SESSION_CLOSE}
    ),
    Role.READ_ONLY: _READ | {MessageType.SESSION_CLOSE},
}


def permitted(role: Role, msg_type: int) -> bool:
    return msg_type in PERMITTED[role]
