"""The therapy timeline of a scenario as a picture: ``pump-emulator simulate --plot``.

``timeline_series`` is pure (numbers in the units drawn: days, mL, °C); ``plot_timeline``
draws them, on the figure and with the marks the log's picture uses too (``timeline_drawing``).
matplotlib is loaded only once a figure is opened, so the emulator never loads it unless a
picture is asked for (the ``plot`` extra installs it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from firmware_model.scenario import Scenario
from firmware_model.scenario.timeline import scenario_timeline
from firmware_model.units import NL_PER_ML, US_PER_DAY
from timeline_drawing import (
    Marker,
    MatplotlibMissing,
    mark_instant,
    mark_refills,
    plot_steps,
    spoken,
    timeline_figure,
)

if TYPE_CHECKING:  # matplotlib is loaded only when a picture is drawn
    from matplotlib.axes import Axes


@dataclass(frozen=True, slots=True)
class TimelineSeries:
    """What ``plot_timeline`` draws, on one time axis in days from the run's start.

    Samples are taken at every instant anything changes (firmware_model/scenario/timeline.py):
    the reservoir is exact as a line through them, flow and temperature as steps that hold
    from each sample to the next.
    """

    title: str
    t_day: tuple[float, ...]
    reservoir_ml: tuple[float, ...]
    rate_ml_per_day: tuple[float, ...]  # delivered, heat included
    temperature_c: tuple[float, ...]
    state: tuple[str, ...]
    low_reservoir_ml: tuple[float, ...]  # the alarm volume in force
    alarms: tuple[Marker, ...]  # raised
    refills: tuple[Marker, ...]


class PlotUnavailable(Exception):
    """matplotlib is not installed: the ``plot`` extra is needed."""

    def __init__(self) -> None:
        super().__init__(
            "--plot needs matplotlib: pip install 'itb-pump-emulator[plot]' "
            "(make installs it with the test extra)"
        )


def timeline_series(scenario: Scenario, title: str = "") -> TimelineSeries:
    """The scenario's timeline in the units drawn; pure and exact (see ``TimelineSeries``)."""
    timeline = scenario_timeline(scenario)
    samples = timeline.samples
    alarms = tuple(
        Marker(_days(e.t_us), str(e.detail["alarm"])) for e in timeline.events if e.kind == "alarm"
    )
    refills = tuple(
        Marker(_days(e.t_us), "refill", int(e.detail["added_nl"]) / NL_PER_ML)
        for e in timeline.events
        if e.kind == "refill"
    )
    return TimelineSeries(
        title=title,
        t_day=tuple(_days(s.t_us) for s in samples),
        reservoir_ml=tuple(s.reservoir_nl / NL_PER_ML for s in samples),
        rate_ml_per_day=tuple(s.flow_nl_per_day / NL_PER_ML for s in samples),
        temperature_c=tuple(s.temperature_mc / 1_000 for s in samples),
        state=tuple(s.state for s in samples),
        low_reservoir_ml=tuple(s.low_reservoir_nl / NL_PER_ML for s in samples),
        alarms=alarms,
        refills=refills,
    )


def _days(t_us: int) -> float:
    return t_us / US_PER_DAY


def plot_timeline(series: TimelineSeries, path: str | Path) -> TimelineSeries:
    """Draw ``series`` to a PNG at ``path`` (1500 x 1000 px); return what was drawn."""
    title = series.title or "Therapy timeline"
    try:
        with timeline_figure(path, title, height_ratios=(3, 2, 2)) as (volume, rate, heat):
            volume.plot(series.t_day, series.reservoir_ml, color="tab:blue", label="reservoir")
            plot_steps(
                volume,
                series.t_day,
                series.low_reservoir_ml,
                colour="tab:orange",
                linestyle="--",
                label="low-reservoir alarm volume",
            )
            volume.set_ylabel("reservoir (mL)")
            # room above the reservoir for the alarms
            volume.set_ylim(0, 1.3 * max(series.reservoir_ml, default=1.0) or 1.0)
            plot_steps(rate, series.t_day, series.rate_ml_per_day, colour="tab:green")
            rate.set_ylabel("delivered (mL/day)")
            _scale_rate(series, rate)
            plot_steps(heat, series.t_day, series.temperature_c, colour="tab:red")
            heat.set_ylabel("pump body (°C)")
            heat.set_xlabel("days from the start of the run")
            _mark_events(series, (volume, rate, heat))
    except MatplotlibMissing:
        raise PlotUnavailable() from None
    return series


def _scale_rate(series: TimelineSeries, rate: Axes) -> None:
    """Scale for the rate held most of the run; a brief bolus far above it is cut, and said."""
    held: dict[float, float] = {}
    for i in range(len(series.t_day) - 1):
        ml_per_day = series.rate_ml_per_day[i]
        held[ml_per_day] = held.get(ml_per_day, 0.0) + series.t_day[i + 1] - series.t_day[i]
    run_days = series.t_day[-1] - series.t_day[0] if series.t_day else 0.0
    usual = max((r for r, days in held.items() if days >= run_days / 100), default=0.0)
    peak = max(series.rate_ml_per_day, default=0.0)
    if usual and peak > OFF_SCALE * usual:
        rate.set_ylim(0, OFF_SCALE * usual)
        rate.annotate(
            f"off scale: boluses up to {peak:.3g} mL/day",
            (0.99, 0.95),
            xycoords="axes fraction",
            ha="right",
            va="top",
            fontsize=9,
        )
    else:
        rate.set_ylim(0, 1.2 * peak or 1.0)


def _mark_events(series: TimelineSeries, axes: tuple[Axes, ...]) -> None:
    """Alarms as a rug along the reservoir panel's top, one row a kind, and refills as
    triangles at the volume filled; named and drawn across every panel when there are few."""
    volume = axes[0]
    top = volume.get_xaxis_transform()  # x in days, y in the panel's height
    kinds = sorted({m.what for m in series.alarms})
    for row, kind in enumerate(kinds):
        times = [m.t_day for m in series.alarms if m.what == kind]
        volume.plot(
            times,
            [0.97 - 0.05 * row] * len(times),
            linestyle="none",
            marker="v",
            color=_ALARM_COLOURS[row % len(_ALARM_COLOURS)],
            transform=top,
            label=f"alarm: {spoken(kind)}",
        )
    if len(series.alarms) <= FEW_MARKERS:
        for marker in series.alarms:
            mark_instant(
                axes,
                marker.t_day,
                f"{spoken(marker.what)}, day {marker.t_day:.4g}",
                colour="tab:red",
                linewidth=0.7,
                alpha=0.5,
                top=0.9 - 0.05 * len(kinds),  # below the rug
            )
    mark_refills(volume, series.refills, annotated=len(series.refills) <= FEW_MARKERS)


FEW_MARKERS = 12
OFF_SCALE = 3.0  # a rate more than this times the usual one is cut off the rate panel
_ALARM_COLOURS = ("tab:red", "darkred", "tab:orange", "tab:brown", "tab:pink", "black")
