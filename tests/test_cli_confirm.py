"""What the clinician sees is what the pump will do, and nothing happens unasked (issue 8,
points 1-6): the command line in-process against a pump served on a real pty."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from firmware_model import Flex
from protocol import Keyring
from tests.cli_rig import SERIAL, Run, ServedPump, run_cli, served_pump
from tests.protocol.pair import seeded
from transport import open_port

FLEX = ("flex", "00:00=200", "08:00=300", "20:00=150")


@pytest.fixture
def pump(tmp_path: Path) -> Iterator[ServedPump]:
    with served_pump(tmp_path) as served:
        yield served


def cli(
    pump: ServedPump, mp: pytest.MonkeyPatch, *argv: str, answers: list[str] | None = None
) -> Run:
    return run_cli(pump, *argv, answers=answers, monkeypatch=mp)


# -- 3: every changing command asks before it acts --------------------------------------


def test_a_change_waits_for_a_yes_on_a_terminal(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    declined = cli(pump, monkeypatch, "set-dose", "220", answers=["n"])
    assert declined.code == 0
    assert declined.asked == ["Send this to the pump? [y/N] "]
    assert "continuous 220 ug/day" in declined.out  # the screen came before the question
    assert "not sent" in declined.err
    accepted = cli(pump, monkeypatch, "set-dose", "220", answers=["y"])
    assert accepted.code == 0, accepted.err
    pump.stop()
    assert pump.pump.status().dose_ug_per_day == 220


def test_without_a_terminal_a_change_needs_yes(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = cli(pump, monkeypatch, "bolus", "5")
    assert refused.code == 2
    assert "add --yes" in refused.error
    before_or_after = [
        ("--yes", "bolus", "5", "--duration-s", "600"),
        ("bolus", "5", "--duration-s", "600", "--yes"),
    ]
    first = cli(pump, monkeypatch, *before_or_after[0])
    assert first.code == 0, first.err
    pump.stop()
    assert [e.kind for e in pump.pump.log].count("bolus_started") == 1


def test_yes_after_the_command_name_works_too(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = cli(pump, monkeypatch, "set-dose", "210", "--yes", "--json")
    assert done.code == 0, done.err
    assert '"committed"' in done.out
    assert "in force" in done.err  # with --json the screen goes to stderr


@pytest.mark.parametrize(
    "argv",
    [
        ("set-dose", "220"),
        FLEX,
        (
            "patient-limits",
            "--dose-ug",
            "25",
            "--duration-s",
            "900",
            "--lockout-s",
            "3600",
            "--max-per-day",
            "3",
        ),
        ("low-reservoir-alarm", "3"),
        ("bolus", "5", "--duration-s", "600"),
        ("stop", "--confirm-withdrawal-risk"),
        ("refill", "18", "500"),
        ("clock", "--set", "1795000100"),
    ],
    ids=lambda argv: argv[0],
)
def test_every_changing_command_shows_the_state_and_asks(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, argv: tuple[str, ...]
) -> None:
    before = pump.pump.log.written
    run = cli(pump, monkeypatch, *argv, answers=["no"])
    assert run.code == 0, run.err
    assert run.asked, "it must ask"
    if argv[0] != "clock":
        assert "State" in run.out
    pump.stop()
    clinical = [
        e.kind for i, c, e in pump.pump.log.classified_page(before, 1 << 20) if c == "clinical"
    ]
    assert clinical == []  # declined: the pump is as it was


def test_ack_and_patient_bolus_do_not_ask_and_say_why(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    ack = cli(pump, monkeypatch, "ack", "--help")
    assert "does not ask" in " ".join(ack.out.split())
    patient = cli(pump, monkeypatch, "patient-bolus", "--help")
    assert "does not ask" in " ".join(patient.out.split())


def test_yes_never_stands_in_for_the_withdrawal_confirmation(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "stop", "--yes")
    assert run.code == 2  # a usage error: nothing was sent
    assert "--confirm-withdrawal-risk" in run.error
    pump.stop()
    assert pump.pump.state == "infusing"


def test_a_dry_run_shows_and_leaves_nothing_staged(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "set-dose", "230", "--dry-run")
    assert run.code == 0
    assert "continuous 230 ug/day" in run.out
    assert "dry run" in run.err
    assert not run.asked
    pump.stop()
    assert pump.pump.status().dose_ug_per_day == 200
    assert pump.device._staged is None  # its session closed: nothing left staged


def test_a_session_lost_while_deciding_is_staged_and_asked_again(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    from programmer import Programmer

    def somebody_else_opens_a_session(asked: int) -> None:
        if asked == 1:  # while our clinician reads the screen, another programmer connects
            # Our programmer holds the port exclusively; the other comes in as over a second
            # link to the same pump would, sharing it.
            sharing = partial(open_port, exclusive=False)
            with monkeypatch.context() as patch:
                patch.setattr("programmer.link.open_port", sharing)
                with Programmer.open(pump.port, key_file=pump.key_file, operator="other"):
                    pass

    run = run_cli(
        pump, "set-dose", "240", answers=["y", "y"], monkeypatch=monkeypatch,
        on_ask=somebody_else_opens_a_session,
    )  # fmt: skip
    assert run.code == 0, run.err
    assert len(run.asked) == 2  # it never committed on the first, stale, answer
    assert "staging again" in run.err
    pump.stop()
    assert pump.pump.status().dose_ug_per_day == 240
    assert [e.kind for e in pump.pump.log].count("programmed") == 2  # the first fill's, and ours


# -- 1: refill on a flex schedule -------------------------------------------------------


def test_refill_keep_doses_keeps_the_flex_shape_and_waits(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(pump, monkeypatch, *FLEX, "--yes").code == 0
    run = cli(pump, monkeypatch, "refill", "18", "1000", "--keep-doses", answers=["y"])
    assert run.code == 0, run.err
    screen = run.out
    for step in (
        "00:00 UTC 200 ug/day (0.2 mL/day)",
        "08:00 UTC 300 ug/day (0.3 mL/day)",
        "20:00 UTC 150 ug/day (0.15 mL/day)",
    ):
        assert step in screen  # the new concentration's rates, each step kept
    assert "08:00 UTC 300 ug/day (0.6 mL/day)" in screen  # and what was in force
    pump.stop()
    basal = pump.pump.basal
    assert isinstance(basal, Flex)
    assert [(s.start_s, s.dose_ug_per_day) for s in basal.steps] == [
        (0, 200),
        (28800, 300),
        (72000, 150),
    ]


def test_a_bare_dose_on_a_flex_pump_is_refused_naming_the_ways(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(pump, monkeypatch, *FLEX, "--yes").code == 0
    run = cli(pump, monkeypatch, "refill", "18", "1000", "--dose", "300", "--yes")
    assert run.code == 2
    assert "--flex" in run.error
    assert "--keep-doses" in run.error
    pump.stop()
    assert pump.pump.status().concentration_ug_per_ml == 500


def test_refill_with_a_new_schedule_shows_it_at_the_new_concentration(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(pump, monkeypatch, *FLEX, "--yes").code == 0
    run = cli(
        pump, monkeypatch, "refill", "18", "1000", "--flex", "00:00=200", "12:00=250", "--yes"
    )
    assert run.code == 0, run.err
    assert "12:00 UTC 250 ug/day (0.25 mL/day)" in run.out


# -- 4, 5, 6: explicit values, refills, errors in the user's units ----------------------


def test_prime_zero_is_refused_and_no_value_says_the_catheter_volume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with served_pump(tmp_path) as served:
        assert (
            run_cli(
                served, "stop", "--confirm-withdrawal-risk", "--yes", monkeypatch=monkeypatch
            ).code
            == 0
        )
        zero = run_cli(served, "prime", "--volume-ml", "0", "--yes", monkeypatch=monkeypatch)
        assert zero.code == 1
        assert "above 0 mL" in zero.error
        default = run_cli(served, "prime", "--dry-run", monkeypatch=monkeypatch)
        assert "0.200 mL (the catheter volume)" in default.out
        assert "WARNING" not in default.out  # a new catheter holds no drug yet


def test_priming_a_catheter_full_of_drug_warns_of_the_bolus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cli_rig import worked_example

    pump = worked_example()
    pump.advance_to(3 * 86_400_000_000)  # drug has left the tip: the catheter is full
    with served_pump(tmp_path, pump) as served:
        assert (
            run_cli(
                served, "stop", "--confirm-withdrawal-risk", "--yes", monkeypatch=monkeypatch
            ).code
            == 0
        )
        run = run_cli(served, "prime", "--dry-run", monkeypatch=monkeypatch)
    assert run.code == 0, run.err
    # 0.2 mL dead space x 500 ug/mL = 100 ug (docs/domain.md worked example).
    assert "about 100 ug, into the spinal fluid" in run.out


def test_a_large_discrepancy_needs_its_own_answer(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    yes_only = cli(pump, monkeypatch, "refill", "18", "500", "--measured-ml", "15", "--yes")
    assert yes_only.code == 2
    assert "--accept-discrepancy" in yes_only.error
    assert "pocket" in yes_only.out
    accepted = cli(
        pump,
        monkeypatch,
        "refill",
        "18",
        "500",
        "--measured-ml",
        "15",
        "--yes",
        "--accept-discrepancy",
    )
    assert accepted.code == 0, accepted.err
    pump.stop()
    (record,) = [e for e in pump.pump.log if e.kind == "refill_discrepancy"]
    assert record.detail["measured_nl"] == 15_000_000


def test_a_dry_run_shows_the_discrepancy_and_its_figures(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "refill", "18", "500", "--measured-ml", "15", "--dry-run")
    assert run.code == 0, run.err
    # The worked example holds 20 mL (docs/domain.md); a moment of infusion leaves 19.999.
    withdrawn = next(line for line in run.out.splitlines() if "Withdrawn" in line)
    assert "measured 15.000 mL" in withdrawn
    assert "less than expected" in withdrawn
    assert "WARNING: the measured residual differs from the expected by 4.99" in run.out
    pump.stop()
    assert "refill_discrepancy" not in [e.kind for e in pump.pump.log]


def test_a_refill_without_a_measurement_says_so_in_its_result(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "refill", "18", "500", "--yes")
    assert run.code == 0, run.err
    result = run.out.splitlines()[-1]
    assert result.startswith("Refilled with 18.000 mL of baclofen 500 ug/mL; expected 19.99")
    assert "not measured" in result
    assert "the pump is infusing" in result


def test_a_new_concentration_warns_of_the_old_drug_in_the_catheter(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "refill", "18", "1000", "--keep-doses", "--dry-run")
    assert run.code == 0, run.err
    # 200 ug/day at 1000 ug/mL runs 0.2 mL/day; the 0.2 mL catheter still holds 500 ug/mL
    # drug, so for a day the patient gets 100, not 200 ug/day (docs/domain.md).
    assert "0.50 x the programmed dose for about 24 h (100 instead of 200 ug/day)" in run.out


def test_a_refill_of_a_stopped_pump_says_it_stays_stopped(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(pump, monkeypatch, "stop", "--confirm-withdrawal-risk", "--yes").code == 0
    run = cli(pump, monkeypatch, "refill", "18", "500", "--dry-run")
    assert "stays stopped after the refill" in run.out


def test_a_measured_residual_above_capacity_is_refused(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "refill", "18", "500", "--measured-ml", "25", "--yes")
    assert run.code == 1
    assert "more than a 20 mL reservoir holds" in run.error


def test_errors_speak_the_users_units(pump: ServedPump, monkeypatch: pytest.MonkeyPatch) -> None:
    run = cli(pump, monkeypatch, "low-reservoir-alarm", "50", "--yes")
    assert run.code == 1
    assert (
        run.error
        == "pump-programmer: error: 50 mL is above the 19 mL maximum for a 20 mL reservoir"
    )
    not_a_value = cli(pump, monkeypatch, "low-reservoir-alarm", "fifty", "--yes")
    assert not_a_value.code == 2
    empty = cli(pump, monkeypatch, "refill", "0", "500", "--yes")
    assert empty.error.endswith("it must be more than 0 mL and at most 20 mL (a 20 mL reservoir)")
    assert "--measured-ml ML" in cli(pump, monkeypatch, "refill", "--help").out
    assert "--volume-ml ML" in cli(pump, monkeypatch, "prime", "--help").out


def test_a_bolus_too_fast_says_the_shortest_duration_that_works(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 ug at 500 ug/mL is 0.2 mL; at the pump's 24 mL/day that takes 12 min at least
    # (docs/domain.md: the worked example's drug, the pump's highest rate).
    run = cli(pump, monkeypatch, "bolus", "100", "--duration-s", "300", "--yes")
    assert run.code == 1
    assert run.error.endswith("give it over at least 12 min (--duration-s 720)")
    done = cli(pump, monkeypatch, "bolus", "100", "--duration-s", "720", "--yes")
    assert done.code == 0, done.err
    assert done.out.splitlines()[-1].startswith("Bolus: 100 ug, 0.2 mL at 24 mL/day over 12 min")


def test_a_patient_bolus_result_says_the_dose(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = (
        "--dose-ug",
        "25",
        "--duration-s",
        "900",
        "--lockout-s",
        "10800",
        "--max-per-day",
        "3",
    )
    assert cli(pump, monkeypatch, "patient-limits", *limits, "--yes").code == 0
    run = cli(pump, monkeypatch, "--role", "patient", "patient-bolus")
    assert run.code == 0, run.err
    assert run.out.startswith("Patient bolus: 25 ug, 0.05 mL")
    locked = cli(pump, monkeypatch, "--role", "patient", "patient-bolus")
    assert locked.code == 1
    # The 3 h lockout, less what the link took (the served pump's clock runs in real time).
    assert re.search(
        r"the next patient bolus is possible in (3 h|2 h 59 min( \d+ s)?)$", locked.error
    )


def test_a_patient_asking_to_set_a_dose_is_told_the_role(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "--role", "patient", "set-dose", "220")
    assert run.code == 2
    assert "set-dose needs the clinician role" in run.error
    # A new user's finding: `alarms` said it needed the clinician role; read-only may too.
    alarms = cli(pump, monkeypatch, "--role", "patient", "alarms")
    assert alarms.code == 2
    assert "alarms needs the clinician or read-only role (--role read-only)" in alarms.error
    assert "the patient role may run: " in alarms.error


def test_the_wrong_key_file_exits_five_naming_it(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "another-pumps-keys.json"
    descriptor = os.open(other, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(Keyring.generate(SERIAL, seeded(99)).to_plain(), handle)
    pump.key_file = other
    run = cli(pump, monkeypatch, "status")
    assert run.code == 5
    assert str(other) in run.error
    assert "not this pump's key" in run.error


# -- 2: programming a stopped pump leaves it stopped --------------------------------------


def test_programming_a_stopped_pump_leaves_it_stopped_and_says_so(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Issue 8's acceptance: stop, then set-dose 220 --yes: exit 0, continuous 220, stopped.
    assert cli(pump, monkeypatch, "stop", "--confirm-withdrawal-risk", "--yes").code == 0
    run = cli(pump, monkeypatch, "set-dose", "220", "--yes")
    assert run.code == 0, run.err
    state_line = next(line for line in run.out.splitlines() if line.strip().startswith("State"))
    assert state_line.split() == ["State", "stopped", "stopped"]
    assert "add --start to start delivery" in run.out
    assert "Committed: the pump is stopped" in run.out
    prescription = cli(pump, monkeypatch, "prescription")
    assert "continuous 220 ug/day" in prescription.out
    status = cli(pump, monkeypatch, "status")
    assert "State      stopped" in status.out


def test_start_on_commit_is_shown_and_done(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(pump, monkeypatch, "stop", "--confirm-withdrawal-risk", "--yes").code == 0
    run = cli(pump, monkeypatch, "set-dose", "220", "--start", "--yes")
    assert run.code == 0, run.err
    assert "stopped -> infusing   <- changed" in run.out
    pump.stop()
    assert pump.pump.state == "infusing"


def test_a_refill_of_an_empty_pump_shows_that_it_will_infuse_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cli_rig import worked_example

    empty = worked_example()
    empty.advance_to(50 * 86_400_000_000)  # docs/domain.md worked example: empty at 48.75 d
    assert empty.state == "empty"
    with served_pump(tmp_path, empty) as served:
        run = run_cli(served, "refill", "20", "500", "--yes", monkeypatch=monkeypatch)
        assert run.code == 0, run.err
        assert "empty -> infusing   <- changed" in run.out
        served.stop()
        assert served.pump.state == "infusing"


# -- what a clinician meets at the edges --------------------------------------------------


def test_asking_for_the_prescription_in_force_sends_nothing(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worked example infuses continuous 200 ug/day (docs/domain.md).
    before = len(pump.pump.log)
    run = cli(pump, monkeypatch, "set-dose", "200", "--yes")
    assert run.code == 0, run.err
    assert "prescription in force already" in run.err
    assert run.asked == []
    pump.stop()
    kinds = [e.kind for e in list(pump.pump.log)[before:]]
    assert "programmed" not in kinds


def test_ctrl_d_at_the_question_is_a_no(pump: ServedPump, monkeypatch: pytest.MonkeyPatch) -> None:
    run = cli(pump, monkeypatch, "set-dose", "220", answers=[])  # no answer left: EOF
    assert run.code == 0
    assert "not sent" in run.err
    assert "Traceback" not in run.err
    pump.stop()
    assert pump.pump.status().dose_ug_per_day == 200


def test_what_is_already_so_sends_nothing_and_exits_0(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README's exit table: 0 when it was already so; nothing is asked, nothing logged.
    started = cli(pump, monkeypatch, "start", answers=["y"])
    assert (started.code, started.asked) == (0, [])
    assert "already infusing: nothing sent" in started.err
    assert cli(pump, monkeypatch, "stop", "--confirm-withdrawal-risk", "--yes").code == 0
    again = cli(pump, monkeypatch, "stop", "--confirm-withdrawal-risk", answers=["y"])
    assert (again.code, again.asked) == (0, [])
    assert "already stopped: nothing sent" in again.err
    pump.stop()
    assert [e.kind for e in pump.pump.log].count("state") == 2  # infusing at first, one stop


def test_a_low_reservoir_alarm_above_the_contents_says_it_sounds_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cli_rig import worked_example

    # The worked example empties at 48.75 d (docs/domain.md); at 40 d it holds about 3.6 mL,
    # below the 5 mL the alarm may be set to.
    pump = worked_example()
    pump.advance_to(40 * 86_400_000_000)
    with served_pump(tmp_path, pump) as served:
        run = run_cli(served, "low-reservoir-alarm", "5", "--dry-run", monkeypatch=monkeypatch)
    assert run.code == 0, run.err
    assert "will sound at once" in run.out


def test_a_patient_bolus_too_fast_names_a_duration_the_pump_accepts_on_top_of_the_basal(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A new user's finding: the suggestion ignored the basal the patient bolus runs on top
    # of, and the pump refused it. 200 ug at 500 ug/mL is 0.4 mL; with a 0.6 mL/day step
    # the pump's 24 mL/day leaves 23.4 mL/day: 0.4 mL takes at least 24 min 37 s.
    assert cli(pump, monkeypatch, "flex", "00:00=200", "08:00=300", "--yes").code == 0
    limits = ("--lockout-s", "3600", "--max-per-day", "3", "--yes")
    fast = cli(
        pump, monkeypatch, "patient-limits", "--dose-ug", "200", "--duration-s", "60", *limits
    )
    assert fast.code == 1
    assert "on top of a basal of up to 0.6 mL/day" in fast.error
    suggested = re.search(r"--duration-s (\d+)\)$", fast.error)
    assert suggested is not None
    assert int(suggested[1]) == 24 * 60 + 37
    done = cli(
        pump,
        monkeypatch,
        "patient-limits",
        "--dose-ug",
        "200",
        "--duration-s",
        suggested[1],
        *limits,
    )
    assert done.code == 0, done.err


# -- a new user's second round: what the screens left unsaid -------------------------------


def test_a_refill_to_the_empty_level_shows_the_pump_going_empty_and_asks_for_it(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The worked example's pump is empty at 0.5 mL (docs/domain.md): 0.3 mL stops delivery.
    shown = cli(pump, monkeypatch, "refill", "0.3", "500", "--dry-run")
    assert "infusing -> empty   <- changed" in shown.out
    assert "abrupt baclofen withdrawal can be life-threatening" in shown.out
    yes_only = cli(pump, monkeypatch, "refill", "0.3", "500", "--yes")
    assert yes_only.code == 2
    assert yes_only.error.endswith("--confirm-withdrawal-risk")
    done = cli(pump, monkeypatch, "refill", "0.3", "500", "--yes", "--confirm-withdrawal-risk")
    assert done.code == 0, done.err
    assert done.out.splitlines()[-1].endswith("the pump is empty")


def test_a_refill_below_the_alarm_volume_says_the_alarm_sounds_at_once(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "refill", "1.5", "500", "--dry-run")
    assert "infusing -> empty" not in run.out
    assert "at or below the low-reservoir alarm volume (2.000 mL)" in run.out


def test_refilling_an_empty_pump_says_how_long_it_delivered_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.cli_rig import worked_example

    pump = worked_example()
    # Empty at 48.75 d (docs/domain.md worked example): at 52 d it has been 78 h.
    pump.advance_to(52 * 86_400_000_000)
    with served_pump(tmp_path, pump) as served:
        run = run_cli(served, "refill", "20", "500", "--dry-run", monkeypatch=monkeypatch)
    assert run.code == 0, run.err
    assert "delivered nothing since 2027-01-06 05:06:40 UTC (78 h)" in run.out
    assert "resumes at once at the full programmed dose" in run.out


def test_a_lower_concentration_doubling_the_dose_is_a_warning(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "refill", "18", "250", "--keep-doses", "--dry-run")
    # 200 ug/day at 250 ug/mL is 0.8 mL/day: the 0.2 mL of 500 ug/mL drug in the catheter
    # goes in 6 h at twice the dose (docs/domain.md: dead space 0.2 mL).
    assert (
        "WARNING: the catheter still holds 0.200 mL of the old 500 ug/mL drug; pushed at the "
        "new rate it delivers 2.00 x the programmed dose for about 6 h (400 instead of 200"
    ) in run.out


def test_a_dry_run_of_a_discrepant_refill_says_the_real_one_asks_again(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "refill", "18", "500", "--measured-ml", "15", "--dry-run")
    assert "needs a second answer (or --accept-discrepancy)" in run.out


def test_flex_steps_are_set_side_by_side_by_time_with_the_daily_totals(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(pump, monkeypatch, "flex", "00:00=200", "08:00=300", "--yes").code == 0
    run = cli(pump, monkeypatch, "flex", "00:00=200", "12:00=250", "--dry-run")
    rows = [line.split("   ") for line in run.out.splitlines() if "flex " in line]
    cells = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert cells[1] == ["flex 08:00 UTC 300 ug/day (0.6 mL/day)", "(removed)", "<- changed"]
    assert cells[2][0] == "flex 12:00 UTC 250 ug/day (0.5 mL/day)"
    # (8 h x 200 + 16 h x 300) / 24 = 266.67; (12 h x 200 + 12 h x 250) / 24 = 225.
    total = next(line for line in run.out.splitlines() if "Daily total" in line)
    assert total.split()[2:6] == ["266.67", "ug/day", "225", "ug/day"]


def test_the_clock_screen_shows_a_flex_step_the_new_clock_moves_into(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(pump, monkeypatch, "flex", "00:00=200", "12:00=300", "--yes").code == 0
    # The pump clock reads 11:06:40 UTC; an hour on, the 12:00 step is in force.
    run = cli(pump, monkeypatch, "clock", "--set", str(1_795_000_000 + 3_600), "--dry-run")
    step = next(line for line in run.out.splitlines() if "Basal step" in line)
    assert "00:00 UTC 200 ug/day (0.4 mL/day)" in step
    assert step.endswith("12:00 UTC 300 ug/day (0.6 mL/day)   <- changed")
