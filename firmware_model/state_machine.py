"""Every rule about what the pump may do in each state lives in this file.

Theory of operation
-------------------
The pump is always in exactly one state. Requests from the programmer (program, stop, bolus,
refill...) and physical events (the reservoir reaching its empty threshold, the motor
stalling in an MRI scanner, the battery reaching end of service) are *triggers*. The table
below says from which states each trigger is allowed and where it leads. A request whose
trigger is not allowed from the current state is refused with ``Refusal.WRONG_STATE`` before
anything changes, so this table is the single source of truth for the pump's behaviour, for
the emulator's replies and for the diagram in docs/state-machine.md (generated from it).

Which way the motor turns is a property of the state too (``DELIVERING``, ``BASAL_RUNS``):
the physics asks this file, never an ``if`` of its own.

After a bolus, a priming bolus or a motor stall, the pump goes back to what it was doing:
to ``infusing`` if a basal prescription is running (``basal_on``), else to ``stopped``.

Programming changes what is delivered, never whether: ``program`` leaves a stopped pump
stopped, unless the request asks to start on commit (``start_requested``).

An MRI scan that begins while an alarm is active holds the pump (``awaiting_interrogation``):
when the motor could run again it stays suspended until interrogated, and only an
interrogation made after the scan has ended (``scan_over``; during the recovery delay counts)
releases it. TGA hazard alert [S].

States
  stopped         no delivery: never started, or stopped by the clinician (confirmed).
  infusing        basal delivery (continuous or flex); patient boluses run on top.
  bolus           a clinician bolus replaces the basal for its duration.
  priming         the priming bolus fills tubing and catheter at a high rate.
  suspended       motor stall (MRI, occlusion): delivery suspended, critical alarm.
  empty           the reservoir reached its empty threshold: delivery stopped, critical.
  end_of_service  the battery is spent, 90 days after ERI: delivery stopped for good.
"""

from typing import Any

from transitions import Machine

STOPPED = "stopped"
INFUSING = "infusing"
BOLUS = "bolus"
PRIMING = "priming"
SUSPENDED = "suspended"
EMPTY = "empty"
END_OF_SERVICE = "end_of_service"

STATES = [STOPPED, INFUSING, BOLUS, PRIMING, SUSPENDED, EMPTY, END_OF_SERVICE]
INITIAL = STOPPED
DELIVERING = frozenset({INFUSING, BOLUS, PRIMING})  # the motor turns
BASAL_RUNS = frozenset({INFUSING})  # the programmed basal rate is delivered
ALIVE = [s for s in STATES if s != END_OF_SERVICE]

# Triggers the programmer may send: refused with WRONG_STATE outside their source states.
REQUESTS = frozenset(
    {
        "program",
        "start",
        "stop",
        "start_bolus",
        "start_priming",
        "patient_bolus",
        "refill",
        "set_limits",
        "acknowledge",
        "interrogate",
        "set_clock",
    }
)

TRANSITIONS: list[dict[str, Any]] = [
    # Programming a basal prescription (continuous or flex) changes delivery; a stopped pump
    # starts only when the request asks to (issue 8, point 2).
    {"trigger": "program", "source": [STOPPED], "dest": INFUSING, "conditions": "start_requested"},
    {"trigger": "program", "source": [STOPPED, INFUSING], "dest": None},
    # Stopping needs explicit confirmation: abrupt baclofen withdrawal is dangerous (boxed
    # warning, Lioresal intrathecal label [S]); the pump checks the flag before the trigger.
    {"trigger": "stop", "source": [INFUSING, BOLUS, PRIMING, SUSPENDED, EMPTY], "dest": STOPPED},
    # Start resumes the programmed basal after a stop.
    {"trigger": "start", "source": [STOPPED], "dest": INFUSING},
    {"trigger": "start_bolus", "source": [STOPPED, INFUSING], "dest": BOLUS},
    {"trigger": "start_priming", "source": [STOPPED], "dest": PRIMING},
    {
        "trigger": "bolus_done",
        "source": [BOLUS, PRIMING],
        "dest": INFUSING,
        "conditions": "basal_on",
    },
    {"trigger": "bolus_done", "source": [BOLUS, PRIMING], "dest": STOPPED, "unless": "basal_on"},
    # Patient boluses run on top of a running basal.
    {"trigger": "patient_bolus", "source": [INFUSING], "dest": None},
    # Refill: never during a bolus; after an empty-reservoir stop, therapy resumes.
    {"trigger": "refill", "source": [STOPPED, INFUSING, SUSPENDED], "dest": None},
    {"trigger": "refill", "source": [EMPTY], "dest": INFUSING, "conditions": "basal_on"},
    {"trigger": "refill", "source": [EMPTY], "dest": STOPPED, "unless": "basal_on"},
    {"trigger": "set_limits", "source": ALIVE, "dest": None},
    {"trigger": "acknowledge", "source": STATES, "dest": None},
    # An interrogation after an MRI scan has ended releases a pump held by it (TGA [S]).
    {
        "trigger": "interrogate",
        "source": [SUSPENDED],
        "dest": None,
        "conditions": "scan_over",
        "after": "release_hold",
    },
    {"trigger": "interrogate", "source": STATES, "dest": None},
    {"trigger": "set_clock", "source": ALIVE, "dest": None},
    # Physical events.
    {"trigger": "motor_stalled", "source": [INFUSING, BOLUS, PRIMING], "dest": SUSPENDED},
    # The motor can run again; a pump held after an MRI waits for its interrogation.
    {
        "trigger": "motor_recovered",
        "source": [SUSPENDED],
        "dest": INFUSING,
        "conditions": "basal_on",
        "unless": "awaiting_interrogation",
    },
    {
        "trigger": "motor_recovered",
        "source": [SUSPENDED],
        "dest": STOPPED,
        "unless": ["basal_on", "awaiting_interrogation"],
    },
    {"trigger": "reservoir_emptied", "source": [INFUSING, BOLUS, PRIMING], "dest": EMPTY},
    {"trigger": "battery_depleted", "source": ALIVE, "dest": END_OF_SERVICE},
]


class StateHolder:
    """The object the machine drives; kept apart so triggers never shadow the pump's API.

    Its flags are the conditions of the table; the pump sets them as things happen.
    """

    state: str

    def __init__(self) -> None:
        self.basal_on = False  # a basal prescription is running (or will resume)
        self.awaiting_interrogation = False  # alarming when an MRI began; not released yet
        self.scan_over = True  # no MRI scan is under way (its recovery delay may be)

    def start_requested(self, start: bool = False, **_: object) -> bool:
        """Condition of ``program``: the request asks a stopped pump to start."""
        return start

    def release_hold(self, **_: object) -> None:
        self.awaiting_interrogation = False


def build_machine(
    holder: StateHolder, initial: str = INITIAL, machine_class: type = Machine, **options: Any
) -> Any:
    return machine_class(
        model=holder,
        states=STATES,
        transitions=TRANSITIONS,
        initial=initial,
        auto_transitions=False,
        ignore_invalid_triggers=False,
        **options,
    )


def allowed(trigger: str, state: str) -> bool:
    return state in _SOURCES.get(trigger, ())


_SOURCES: dict[str, frozenset[str]] = {}
for _transition in TRANSITIONS:
    _SOURCES[_transition["trigger"]] = _SOURCES.get(
        _transition["trigger"], frozenset()
    ) | frozenset(_transition["source"])
