"""Every rule about what the pump may do in each state lives in this file.

Theory of operation
-------------------
The pump is always in exactly one state. A request (programming, stopping) or a physical
event (the reservoir reaching its empty threshold) is a *trigger*; the table below says from
which states each trigger is allowed and where it leads. A trigger not allowed from the current
state is refused with ``Refusal.WRONG_STATE`` before anything changes, so the table is the
single source of truth for the pump's behaviour and for the diagram in docs/.

Whether the motor turns is also a property of the state (``DELIVERING``): the physics asks
this file, never an ``if`` elsewhere.

States
  stopped   no delivery; the clinician stopped the pump, or it was never started.
  infusing  simple continuous delivery at the programmed dose.
  alarm     a critical alarm (empty reservoir) has stopped delivery.
"""

from typing import Any

from transitions import Machine

STOPPED = "stopped"
INFUSING = "infusing"
ALARM = "alarm"

STATES = [STOPPED, INFUSING, ALARM]
INITIAL = STOPPED
DELIVERING = frozenset({INFUSING})

# trigger, allowed source states, destination.
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "program_continuous", "source": [STOPPED, INFUSING], "dest": INFUSING},
    # Stopping needs explicit confirmation: abrupt baclofen withdrawal is dangerous
    # (boxed warning, Lioresal intrathecal label [S]); the pump checks the flag first.
    {"trigger": "stop", "source": [INFUSING], "dest": STOPPED},
    {"trigger": "reservoir_emptied", "source": [INFUSING], "dest": ALARM},
    # Filling the reservoir never starts delivery; after an empty-reservoir stop the pump
    # waits, stopped, for the clinician to program it again.
    {"trigger": "refill", "source": [STOPPED, INFUSING], "dest": None},
    {"trigger": "refill", "source": [ALARM], "dest": STOPPED},
]


class StateHolder:
    """The object the machine drives; kept apart so triggers never shadow the pump's API."""

    state: str


def build_machine(holder: StateHolder, initial: str = INITIAL) -> Machine:
    return Machine(
        model=holder,
        states=STATES,
        transitions=TRANSITIONS,
        initial=initial,
        auto_transitions=False,
        ignore_invalid_triggers=False,
    )


def allowed_triggers(state: str) -> frozenset[str]:
    return _ALLOWED[state]


_ALLOWED: dict[str, frozenset[str]] = {
    state: frozenset(t["trigger"] for t in TRANSITIONS if state in t["source"]) for state in STATES
}
