"""``pump-emulator simulate --plot``: the therapy timeline, its series checked against the
worked example and the runner, its picture decoded, and matplotlib loaded only for it."""

from __future__ import annotations

import io
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.simulate import simulate
from emulator.timeline_plot import TimelineSeries, plot_timeline, timeline_series
from firmware_model.scenario import parse_scenario_text, run_scenario
from firmware_model.scenario.timeline import scenario_timeline
from tests.timeline_png import MIN_SIZE_PX, decoded_size, png_size

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
WORKED = ROOT / "examples" / "worked-example.toml"
MINUTE_DAY = 1 / (24 * 60)
EMULATOR = str(Path(sys.executable).parent / "pump-emulator")


def worked_series() -> TimelineSeries:
    return timeline_series(parse_scenario_text(WORKED.read_text()))


def test_the_worked_example_alarms_at_day_45_with_the_reservoir_falling_0_4_ml_a_day() -> None:
    series = worked_series()
    # docs/domain.md, worked example: 20 mL of 500 ug/mL at 200 ug/day is 0.4 mL/day, so the
    # low-reservoir alarm (2 mL) comes after (20 - 2) / 0.4 = 45 days.
    [low] = [m for m in series.alarms if m.what == "low_reservoir"]
    assert low.t_day == pytest.approx(45, abs=MINUTE_DAY)
    infusing = [i for i, state in enumerate(series.state) if state == "infusing"]
    slopes = [
        (series.reservoir_ml[i] - series.reservoir_ml[i + 1])
        / (series.t_day[i + 1] - series.t_day[i])
        for i in infusing
        if series.t_day[i + 1] > series.t_day[i]
    ]
    assert slopes
    # Volumes are whole nL, so an hour-long segment's slope is within 1e-5 mL/day.
    assert slopes == pytest.approx([0.4] * len(slopes), abs=1e-5)
    assert {series.rate_ml_per_day[i] for i in infusing} == {0.4}
    assert series.reservoir_ml[0] == 0  # a scenario's pump starts empty
    assert max(series.reservoir_ml) == 20
    assert [(m.t_day, m.volume_ml) for m in series.refills] == [(0, 20)]
    assert set(series.low_reservoir_ml) == {2.0}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_timeline_is_the_run_the_runner_makes(path: Path) -> None:
    """Same events at the same instants, and the same reservoir at the end, to the nL."""
    scenario = parse_scenario_text(path.read_text())
    records = list(run_scenario(scenario))
    timeline = scenario_timeline(scenario)
    told = [(r["t_s"], r["kind"]) for r in records[:-1] if r["kind"] not in ("warning",)]
    seen = [(_seconds(e.t_us), e.kind) for e in timeline.events]
    assert seen == told
    summary, last = records[-1], timeline.samples[-1]
    assert last.reservoir_nl == round(summary["reservoir_ul"] * 1_000)
    assert _seconds(last.t_us) == summary["t_s"]
    assert last.state == summary["state"]
    times = [s.t_us for s in timeline.samples]
    assert times == sorted(times)


def _seconds(t_us: int) -> int | float:
    whole, rest = divmod(t_us, 1_000_000)
    return whole if not rest else t_us / 1_000_000


def test_a_thermal_lag_is_sampled_between_events() -> None:
    # examples/therapy-quarter.toml: a 20-minute time constant, so the body warms over about
    # an hour toward the fever's 38.5 °C; samples every 2 minutes draw the curve.
    series = timeline_series(
        parse_scenario_text((ROOT / "examples/therapy-quarter.toml").read_text())
    )
    points = zip(series.t_day, series.temperature_c, strict=True)
    warming = [(t, c) for t, c in points if 21 <= t < 22 and 37 < c < 38.5]  # the fever's day 1
    assert len(warming) > 10
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(warming)]
    assert max(gaps) <= 2 * MINUTE_DAY + 1e-9
    assert [c for _, c in warming] == sorted(c for _, c in warming)
    assert max(series.temperature_c) == pytest.approx(38.5, abs=0.01)


def test_the_picture_decodes_at_1500_by_1000(tmp_path: Path) -> None:
    png = tmp_path / "timeline.png"
    series = worked_series()
    assert plot_timeline(series, png) is series
    assert png_size(png) == decoded_size(png) == (1500, 1000)
    assert png_size(png) >= MIN_SIZE_PX


@pytest.mark.timeout(120)
def test_simulate_plot_writes_the_picture_and_prints_the_same_lines(tmp_path: Path) -> None:
    png = tmp_path / "timeline.png"
    plain = _run(EMULATOR, "simulate", str(WORKED))
    plotted = _run(EMULATOR, "simulate", str(WORKED), "--plot", str(png))
    assert plotted.returncode == 0, plotted.stderr
    assert plotted.stdout == plain.stdout
    assert decoded_size(png) == (1500, 1000)


def test_a_plot_that_cannot_be_written_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = simulate(str(WORKED), out, err, plot=str(tmp_path / "missing" / "t.png"))
    assert code == 2
    assert err.getvalue().startswith("pump-emulator: error: cannot write plot ")
    assert len(err.getvalue().splitlines()) == 1
    assert out.getvalue().count("\n") == 7  # 6 events and the summary, printed all the same


def test_without_matplotlib_plot_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    out, err = io.StringIO(), io.StringIO()
    assert simulate(str(WORKED), out, err, plot=str(tmp_path / "t.png")) == 2
    assert "pip install 'itb-pump-emulator[plot]'" in err.getvalue()
    assert not (tmp_path / "t.png").exists()


LOADED = "import sys; print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"


@pytest.mark.timeout(120)
def test_matplotlib_is_loaded_only_by_the_commands_that_draw() -> None:
    """Issue 9: plotting libraries are imported only by the commands that use them."""
    simulate_only = (
        "from emulator import cli; cli.main(['simulate', 'examples/worked-example.toml']); "
    )
    status = (
        "import pathlib, tempfile\n"
        "from tests.cli_rig import served_pump\n"
        "from programmer import cli\n"
        "with tempfile.TemporaryDirectory() as d, served_pump(pathlib.Path(d)) as served:\n"
        "    code = cli.main(['--port', served.port, '--key-file', str(served.key_file),\n"
        "                     '--operator', 'tester', 'status'])\n"
        "assert code == 0\n"
    )
    plotting = (
        "import tempfile\n"
        "from emulator import cli\n"
        "with tempfile.TemporaryDirectory() as d:\n"
        "    cli.main(['simulate', 'examples/worked-example.toml', '--plot', d + '/t.png'])\n"
    )
    assert _loaded(simulate_only + LOADED) == "[]"
    assert _loaded(status + LOADED) == "[]"
    assert "'matplotlib'" in _loaded(plotting + LOADED)  # the check can fail


def _loaded(script: str) -> str:
    result = _run(sys.executable, "-c", script)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=100, check=False, cwd=ROOT)


def test_the_committed_figure_is_a_picture_the_readme_shows() -> None:
    figure = ROOT / "docs" / "timeline.png"
    assert decoded_size(figure) == (1500, 1000)
    assert figure.stat().st_size < 300_000
    assert "![Therapy timeline](docs/timeline.png)" in (ROOT / "README.md").read_text()
    assert "docs-figures:" in (ROOT / "Makefile").read_text()
