"""Output a person reads (issue 8, points 8 and 9), each with its own test."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from programmer.cli import build_parser
from programmer.flex_input import DST_WARNING, FlexInputError, parse_step, schedule
from protocol import WireStep
from tests.cli_rig import Run, ServedPump, run_cli, served_pump

BIN = Path(sys.executable).parent


@pytest.fixture
def pump(tmp_path: Path) -> Iterator[ServedPump]:
    with served_pump(tmp_path) as served:
        yield served


def cli(pump: ServedPump, mp: pytest.MonkeyPatch, *argv: str) -> Run:
    return run_cli(pump, *argv, monkeypatch=mp)


# -- 8: flex times are unambiguous ------------------------------------------------------


def test_flex_times_are_utc_labelled_and_z_and_0_00_are_accepted() -> None:
    assert parse_step("0:00=200").start_s == 0
    assert parse_step("08:00Z=300").start_s == 8 * 3600
    with pytest.raises(FlexInputError, match="not a time of day"):
        parse_step("24:00=100")
    plan = schedule(
        [parse_step("08:00=300"), parse_step("0:00=200")],
        local_zone=None,
        on=datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert plan.steps == (WireStep(0, 200), WireStep(28_800, 300))
    assert "steps sorted by time: 00:00 UTC, 08:00 UTC" in plan.notes
    assert DST_WARNING in plan.notes


def test_local_times_are_converted_to_utc_and_both_shown() -> None:
    paris_winter = timezone(timedelta(hours=1))
    plan = schedule(
        [parse_step("08:00=300"), parse_step("22:00=150")],
        local_zone=paris_winter,
        on=datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert plan.steps == (WireStep(7 * 3600, 300), WireStep(21 * 3600, 150))
    assert "08:00 local = 07:00 UTC" in plan.notes[0]


def test_two_steps_at_one_time_are_refused() -> None:
    with pytest.raises(FlexInputError, match="two steps start at 08:00"):
        schedule(
            [parse_step("08:00=300"), parse_step("8:00=100")],
            local_zone=None,
            on=datetime(2026, 1, 1, tzinfo=UTC),
        )


def test_the_flex_screen_labels_times_utc_with_units_and_warns(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "flex", "08:00=300", "0:00=200", "--dry-run")
    assert run.code == 0, run.err
    assert "flex 00:00 UTC 200 ug/day (0.4 mL/day)" in run.out
    assert "steps sorted by time" in run.out
    assert "daylight saving" in run.out


# -- 9: output a person reads -----------------------------------------------------------


def test_no_traceback_when_the_output_is_piped_to_head(tmp_path: Path) -> None:
    from tests.cli_rig import worked_example

    pump = worked_example()
    for n in range(3_000):  # a log larger than a pipe's buffer: head closes it mid-write
        pump.record_refused("stage", "value_out_of_range", f"refusal number {n} for the pipe test")
    with served_pump(tmp_path, pump) as served:
        command = (
            f"{BIN / 'pump-programmer'} --port {served.port} --key-file {served.key_file} "
            "log | head -1"
        )
        result = subprocess.run(
            command, shell=True, capture_output=True, text=True, timeout=60, check=False
        )
    assert result.stdout.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "BrokenPipe" not in result.stderr


def test_log_times_are_utc_dates(pump: ServedPump, monkeypatch: pytest.MonkeyPatch) -> None:
    log = cli(pump, monkeypatch, "log")
    assert "2026-11-18 11:06:40 UTC" in log.out  # CLOCK_S, the pump clock at start


def test_alarms_show_utc_dates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli_rig import worked_example

    pump = worked_example()
    pump.advance_to(46 * 86_400_000_000)  # docs/domain.md worked example: low reservoir at day 45
    with served_pump(tmp_path, pump) as served:
        run = run_cli(served, "alarms", monkeypatch=monkeypatch)
    assert run.code == 0, run.err
    assert "low_reservoir    since 2027-01-02 11:06:40 UTC" in run.out


def test_prescription_shows_units_on_every_flex_step(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(pump, monkeypatch, "flex", "00:00=200", "08:00=300", "--yes").code == 0
    run = cli(pump, monkeypatch, "prescription")
    assert "flex 00:00 UTC 200 ug/day (0.4 mL/day)" in run.out
    assert "flex 08:00 UTC 300 ug/day (0.6 mL/day)" in run.out


def test_the_bolus_default_duration_is_in_its_help() -> None:
    text = " ".join(_help("bolus").split())
    assert "default 1800 s = 30 min" in text


def test_status_explains_why_nothing_has_been_infused_yet(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = cli(pump, monkeypatch, "status")
    # True after a priming bolus too: what filled the catheter has not left its tip.
    assert (
        "Infused    0 ug (none has left the catheter tip yet: the catheter's 0.2 mL fills first"
        in run.out
    )


def test_help_offers_yes_and_dry_run_only_where_there_is_a_change() -> None:
    assert "[--yes]" not in _help("status")
    assert "[--dry-run]" not in _help("log")
    assert "[--yes]" in _help("set-dose")
    assert "staged for the pump to read back, then dropped" in " ".join(_help("refill").split())
    assert "--baud BPS" in build_parser().format_help()


def test_the_decode_example_runs_and_text_that_is_not_hex_is_bad_usage() -> None:
    example = next(
        line for line in _help("decode").splitlines() if line.startswith("Example:")
    ).split()[1:4]
    assert example[:2] == ["pump-programmer", "decode"]
    done = subprocess.run(
        [str(BIN / "pump-programmer"), "decode", example[2]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert '"message": "Hello"' in done.stdout
    bad = subprocess.run(
        [str(BIN / "pump-programmer"), "decode", "zz"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2
    assert bad.stderr == "pump-programmer: error: not hexadecimal: 'zz'\n"


def test_ack_takes_the_names_alarms_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.cli_rig import worked_example

    pump = worked_example()
    pump.advance_to(46 * 86_400_000_000)  # worked example: low-reservoir alarm at day 45
    with served_pump(tmp_path, pump) as served:
        listed = run_cli(served, "alarms", monkeypatch=monkeypatch)
        name = listed.out.split()[0]
        assert name == "low_reservoir"
        assert name in " ".join(_help("ack").split())
        acked = run_cli(served, "ack", name, monkeypatch=monkeypatch)
    assert acked.code == 0, acked.err
    assert "(silenced)" in acked.out


def test_the_log_footer_counts_what_it_shows_and_sessions_open_first(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli(pump, monkeypatch, "status")
    run = cli(pump, monkeypatch, "log")
    lines = run.out.splitlines()
    assert re.match(r"\d+ entries shown \(indices 0 to \d+\); lost from the log", lines[-1])
    kinds = [line.split()[4] for line in lines[:-1]]  # index, date, time, UTC, kind
    first_open = kinds.index("session_opened")
    assert kinds[first_open + 1] == "interrogation"


def test_the_clock_screen_says_how_far_the_clock_moves(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CLOCK 1_795_000_000 is the served pump's clock; its own clock runs on from there.
    run = cli(pump, monkeypatch, "clock", "--set", str(1_795_000_000 - 5 * 3600), "--dry-run")
    assert run.code == 0, run.err
    change = next(line for line in run.out.splitlines() if line.strip().startswith("Change"))
    assert re.search(r"back by (5 h|5 h \d+ s)$", change)


def test_status_shows_a_patient_bolus_while_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from firmware_model import PatientLimits
    from tests.cli_rig import worked_example

    pump = worked_example()
    pump.set_patient_limits(PatientLimits(25, 900_000_000, 3_600_000_000, 3))
    pump.patient_bolus()
    with served_pump(tmp_path, pump) as served:
        run = run_cli(served, "status", monkeypatch=monkeypatch)
        data = run_cli(served, "status", "--json", monkeypatch=monkeypatch)
    assert "Patient bolus running until 2026-11-18 11:21:40 UTC" in run.out
    assert '"patient_bolus_ends_s": 1795000900' in data.out


def test_decoding_only_a_delimiter_says_there_was_no_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from programmer.decode import decode_hex

    err = io.StringIO()
    assert decode_hex("c0", out=io.StringIO(), err=err) == 1
    assert "no frame" in err.getvalue()


SUBCOMMANDS: dict[str, argparse.ArgumentParser] = dict(
    build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr, arg-type]
)


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_subcommand_documents_its_arguments_examples_and_exit_codes(command: str) -> None:
    text = _help(command)
    assert "Example: pump-programmer" in text
    assert "Exit codes: 0 done" in text
    parser = SUBCOMMANDS[command]
    undocumented = [a.dest for a in parser._actions if a.dest != "help" and not a.help]
    assert undocumented == []


def _help(command: str) -> str:
    result = subprocess.run(
        [str(BIN / "pump-programmer"), command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_refill_figures_are_cut_to_the_microlitre_as_the_pump_cuts_them() -> None:
    from programmer.checks import ml3

    assert ml3(7_999_600) == "7.999 mL"  # never rounded up past what the pump reports
    assert ml3(20_000_000) == "20.000 mL"
    assert ml3(-1_500_000, sign=True) == "-1.500 mL"
    assert ml3(100_000, sign=True) == "+0.100 mL"
    assert ml3(999, sign=True) == "0.000 mL"  # under a microlitre: no sign to show


@pytest.mark.parametrize(
    ("operator", "problem"),
    [
        ("dr.alexandra.montgomery-smith@hospital", "is too long"),
        ("dr.\u00e9\u4e2d", "is not printable ASCII"),
    ],
)
def test_an_operator_the_log_could_not_keep_whole_is_refused(
    pump: ServedPump, monkeypatch: pytest.MonkeyPatch, operator: str, problem: str
) -> None:
    # A new user's finding: the audit record said `by=dr.alexandra.montgomery-smith@ho`.
    run = cli(pump, monkeypatch, "--operator", operator, "status")
    assert run.code == 2
    assert problem in run.error
    monkeypatch.setenv("PUMP_OPERATOR", operator)
    from_env = run_cli(pump, "status", monkeypatch=monkeypatch, operator=None)
    assert from_env.code == 2
    assert from_env.error.startswith("pump-programmer: error: $PUMP_OPERATOR: operator")
    pump.stop()
    assert not [e for e in pump.pump.log if e.kind == "session_opened"]
