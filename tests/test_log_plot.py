"""``pump-programmer log --plot``: what a pump's log holds, drawn, with the reservoir estimated
from the records alone and checked against the pump's own figures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from firmware_model import Pump
from firmware_model.prescription import Flex, FlexStep
from firmware_model.units import US_PER_DAY, US_PER_S
from programmer import log_plot
from programmer.errors import UsageError
from programmer.log_plot import LogSeries, log_series, parse_detail
from protocol import LogClass, LogRecord
from tests.cli_rig import run_cli, served_pump, worked_example
from tests.timeline_png import decoded_size, png_size

DAY_S = 86_400
NL_PER_ML = 1_000_000
# The estimate integrates what the records say from entries stamped in whole seconds; heat
# speeds the real pump and the log does not say by how much. The one-hour 39 °C exposure below
# adds 16 % of 0.5 mL/day for an hour, 3.3 uL (docs/domain.md: 1 + 0.08 (T - 37)); the
# seconds of real time the commands take add well under 1 uL. So 10 uL.
TOLERANCE_ML = 0.010


def driven_pump() -> Pump:
    """Two months of therapy on `make run`'s pump (20 mL of 500 ug/mL at 200 ug/day): a dose
    increase, a clinician bolus, an hour at 39 °C, a refill, a flex schedule, a stop."""
    pump = worked_example()
    pump.advance_to(10 * US_PER_DAY)
    pump.set_dose(250)
    pump.advance_to(12 * US_PER_DAY)
    pump.clinician_bolus(50, 3_600 * US_PER_S)
    pump.advance_to(20 * US_PER_DAY)
    pump.expose_temperature(39_000, 3_600 * US_PER_S)
    pump.advance_to(38 * US_PER_DAY)  # the low-reservoir alarm came at about day 37.8
    pump.refill(18_000_000, 500)
    pump.advance_to(40 * US_PER_DAY)
    steps = (FlexStep(0, 200), FlexStep(8 * 3_600, 300), FlexStep(20 * 3_600, 250))
    pump.program(Flex(steps))
    pump.advance_to(50 * US_PER_DAY)
    pump.stop(confirm=True)
    pump.advance_to(50 * US_PER_DAY + 6 * 3_600 * US_PER_S)
    pump.start()
    pump.advance_to(60 * US_PER_DAY)
    return pump


@pytest.mark.timeout(120)
def test_the_log_of_a_served_pump_is_drawn_and_its_reservoir_estimated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    png = tmp_path / "timeline.png"
    drawn: list[LogSeries] = []
    draw = log_plot.plot_log
    monkeypatch.setattr(log_plot, "plot_log", lambda s, p: _kept(drawn, draw(s, p)))
    with served_pump(tmp_path, driven_pump()) as served:
        assert run_cli(served, "--yes", "set-dose", "260", monkeypatch=monkeypatch).code == 0
        refill = run_cli(served, "--yes", "refill", "20", "500", monkeypatch=monkeypatch)
        assert refill.code == 0, refill.err
        shown = run_cli(served, "log", "--plot", str(png), monkeypatch=monkeypatch)
        assert shown.code == 0, shown.err
        served.stop()
        pump_reservoir_ml = served.pump.status().reservoir_nl / NL_PER_ML
    assert "refill" in shown.out  # the listing is printed as ever
    assert png_size(png) == decoded_size(png) == (1500, 1000)
    [series] = drawn

    # The programmed basal, as steps: the doses in the order they were programmed, then the
    # flex schedule (programmed at 11:06 UTC, in its 08:00 step) changing at 20:00, 00:00 and
    # 08:00 UTC on the pump clock every day, then the set-dose made through the command line.
    doses = series.basal_ug_per_day
    changes = [i for i, d in enumerate(doses) if i == 0 or d != doses[i - 1]]
    assert [doses[i] for i in changes[:6]] == [200, 250, 300, 250, 200, 300]
    assert doses[-1] == 260
    flex_changes = changes[3:-1]
    assert len(flex_changes) == 3 * 20  # days 40 to 60, three steps a day
    for i in flex_changes:
        clock_s = series.start_clock_s + round(series.basal_t_day[i] * DAY_S)
        assert clock_s % DAY_S == {200: 0, 300: 8 * 3_600, 250: 20 * 3_600}[doses[i]]

    # Refills with their volumes, the bolus, the alarm, the heat and the stop.
    assert [m.volume_ml for m in series.refills] == [20, 18, 20]
    assert [(m.what, m.volume_ml) for m in series.boluses] == [("clinician", 0.1)]
    # 39 °C is 16 % over the programmed flow: over-infusion 37.5 min into the hour
    # (docs/scenarios.md); the low-reservoir alarm (2 mL) near day 37.8.
    assert [(m.what, round(m.t_day, 4)) for m in series.alarms] == [
        ("over_infusion", round(20 + 37.5 / 60 / 24, 4)),
        ("low_reservoir", 37.835),
    ]
    assert [(round(s.start_day, 3), s.what) for s in series.exposures] == [(20.0, "39 °C")]
    assert [(round(s.start_day, 2), round(s.end_day, 2)) for s in series.not_delivering] == [
        (50.0, 50.25)
    ]

    # The estimate against the pump: at each refill, against what the pump reckoned was left
    # at that instant, and at the end against the pump's reservoir after the session.
    for refill_marker, residual in zip(series.refills[1:], series.residuals[1:], strict=True):
        before = _reservoir_before(series, refill_marker.t_day)
        assert before == pytest.approx(residual.volume_ml, abs=TOLERANCE_ML)
    assert series.reservoir_ml[-1] == pytest.approx(pump_reservoir_ml, abs=TOLERANCE_ML)


def _kept(drawn: list[LogSeries], series: LogSeries) -> LogSeries:
    drawn.append(series)
    return series


def _reservoir_before(series: LogSeries, day: float) -> float:
    """The estimate just before a refill at ``day`` set it to the volume filled."""
    points = list(zip(series.reservoir_t_day, series.reservoir_ml, strict=True))
    at = [ml for t, ml in points if t == day]
    return at[0]


def record(index: int, t_s: int, kind: str, detail: str = "") -> LogRecord:
    return LogRecord(index, t_s, LogClass.CLINICAL, kind, detail)


T0 = 1_795_000_000 - 1_795_000_000 % DAY_S  # a midnight, UTC


def test_the_detail_text_is_read_as_the_protocol_writes_it() -> None:
    text = "by=ana@ward req=2840660b:13 request=stage reason=value_out_of_range message=a b=c"
    assert parse_detail(text) == {
        "by": "ana@ward",
        "req": "2840660b:13",
        "request": "stage",
        "reason": "value_out_of_range",
        "message": "a b=c",
    }
    assert parse_detail("") == {}


def test_a_clock_setting_is_taken_out_of_the_time_axis() -> None:
    # 10 days at 0.4 mL/day, the clock set back a year on day 4: the axis runs on evenly and
    # the reservoir falls by 4 mL, not by a year's worth or nothing.
    year_s = 365 * DAY_S
    series = log_series(
        [
            record(0, T0, "refill", "added_nl=20000000 concentration_ug_per_ml=500 expected_nl=0"),
            record(1, T0, "programmed", "mode=continuous dose_ug_per_day=200"),
            record(2, T0, "state", "state=infusing previous=stopped trigger=program"),
            record(
                3,
                T0 + 4 * DAY_S - year_s,
                "clock_set",
                f"previous_s={T0 + 4 * DAY_S} clock_s={T0 + 4 * DAY_S - year_s}",
            ),
            record(4, T0 + 10 * DAY_S - year_s, "session_opened", "role=clinician"),
        ]
    )
    assert series.end_day == 10
    assert series.reservoir_t_day[-1] == 10
    assert series.reservoir_ml[-1] == pytest.approx(16)
    assert series.not_delivering == ()


def test_patient_boluses_and_flex_steps_come_off_the_reservoir() -> None:
    # Flex 100 ug/day from 00:00 and 300 from 12:00 at 1000 ug/mL: 0.2 mL a day; two patient
    # boluses of 50 ug over 10 min, 0.05 mL each, one cut short half way (0.025 mL).
    series = log_series(
        [
            record(0, T0, "refill", "added_nl=10000000 concentration_ug_per_ml=1000"),
            record(1, T0, "patient_limits", "dose_ug=50 duration_s=600 lockout_s=3600"),
            record(2, T0, "programmed", "mode=flex steps=[[0,100],[43200,300]]"),
            record(3, T0, "state", "state=infusing previous=stopped trigger=program"),
            record(4, T0 + DAY_S, "patient_bolus_started", "dose_ug=50"),
            record(5, T0 + DAY_S + 600, "patient_bolus_completed"),
            record(6, T0 + 2 * DAY_S, "patient_bolus_started", "dose_ug=50"),
            record(7, T0 + 2 * DAY_S + 300, "patient_bolus_cancelled", "reason=stopped"),
            record(8, T0 + 3 * DAY_S, "session_opened"),
        ]
    )
    assert [(m.what, m.volume_ml) for m in series.boluses] == [("patient", 0.05)] * 2
    assert series.reservoir_ml[-1] == pytest.approx(10 - 3 * 0.2 - 0.05 - 0.025)
    steps = list(zip(series.basal_t_day, series.basal_ug_per_day, strict=True))
    assert {(0.5, 300), (1.0, 100), (2.5, 300)} <= set(steps)


def test_no_reservoir_line_before_a_refill_and_nothing_from_nothing() -> None:
    series = log_series([record(5, T0, "programmed", "mode=continuous dose_ug_per_day=200")])
    assert series.reservoir_ml == ()
    assert series.basal_ug_per_day == (200,)
    assert log_series([]).basal_t_day == ()


def test_a_plot_that_cannot_be_written_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [record(0, T0, "programmed", "mode=continuous dose_ug_per_day=200")]
    with pytest.raises(UsageError, match="cannot write plot"):
        log_plot.plot_records(records, tmp_path / "missing" / "t.png")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    with pytest.raises(UsageError, match=r"pip install 'itb-pump-emulator\[plot\]'"):
        log_plot.plot_records(records, tmp_path / "t.png")
    assert "estimate" in log_plot.ESTIMATE_LABEL
