"""What a pump's event log holds, as a picture: ``pump-programmer log --plot``.

``log_series`` is pure: from the log's records alone it draws the programmed basal as steps,
boluses, refills with their volumes, alarms, exposures (heat, MRI, occlusion) and the times
the pump was not delivering, and it estimates the reservoir by integrating what those
records say was delivered, reset at every refill. The estimate knows nothing the log does not
say: heat speeds the real flow (docs/domain.md), and entries carry whole seconds of the pump
clock; at each refill the pump's own figure for what was left is drawn beside it. It starts
at the first refill the log still holds. ``plot_log`` draws it on the figure and with the
marks the scenario's picture uses too (``timeline_drawing``), which loads matplotlib only once
a figure is opened.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from programmer.errors import UsageError
from protocol import LogRecord
from timeline_drawing import (
    Marker,
    mark_instant,
    mark_refills,
    plot_steps,
    shade_spans,
    spoken,
    timeline_figure,
)

if TYPE_CHECKING:  # matplotlib is loaded only when a picture is drawn
    from matplotlib.axes import Axes

S_PER_DAY = 86_400
NL_PER_ML = 1_000_000
BODY_CELSIUS = 37.0
DELIVERING = frozenset({"infusing", "bolus", "priming"})
ESTIMATE_LABEL = "reservoir (estimate from the log)"


class Span(NamedTuple):
    """An interval from ``start_day`` to ``end_day``: an exposure ("38.5 °C", "mri",
    "occlusion") or a time the pump was not delivering (``what`` the state)."""

    start_day: float
    end_day: float
    what: str


@dataclass(frozen=True, slots=True)
class LogSeries:
    """What ``plot_log`` draws, on one axis: days from the first record's pump clock
    (``start_clock_s``), with clock settings taken out so that time runs on evenly."""

    start_clock_s: int
    end_day: float
    basal_t_day: tuple[float, ...]  # programmed basal, steps holding to the next point
    basal_ug_per_day: tuple[int, ...]
    reservoir_t_day: tuple[float, ...]  # an ESTIMATE from the records (module docstring)
    reservoir_ml: tuple[float, ...]
    boluses: tuple[Marker, ...]  # what: the kind (clinician, priming, patient)
    refills: tuple[Marker, ...]  # volume_ml: added
    residuals: tuple[Marker, ...]  # the pump's own figure for what was left, at each refill
    alarms: tuple[Marker, ...]  # raised
    exposures: tuple[Span, ...]
    not_delivering: tuple[Span, ...]


def parse_detail(text: str) -> dict[str, str]:
    """``key=value`` pairs one space apart; ``message`` runs to the end (docs/protocol.md,
    section 10)."""
    detail: dict[str, str] = {}
    rest = text
    while rest:
        if rest.startswith("message="):
            detail["message"] = rest.removeprefix("message=")
            break
        part, _, rest = rest.partition(" ")
        key, equals, value = part.partition("=")
        if equals:
            detail[key] = value
    return detail


class _Walk:
    """The log replayed in order: what was programmed and running, and the reservoir."""

    def __init__(self, start_s: int, initial_state: str) -> None:
        self.start_s = start_s  # continuous seconds of day 0
        self.t_s = start_s
        self.shift_s = 0  # continuous time minus pump clock: clock settings taken out
        self.state = initial_state
        self.concentration = 0
        self.steps: list[tuple[int, int]] = []  # programmed basal: (second of day, ug/day)
        self.bolus_nl_per_s = 0.0
        self.patient_nl_per_s = 0.0
        self.patient_duration_s = 0
        self.reservoir_nl: float | None = None  # unknown until a refill
        self.basal: list[tuple[float, int]] = []
        self.reservoir: list[tuple[float, float]] = []

    def day(self, t_s: float) -> float:
        return (t_s - self.start_s) / S_PER_DAY

    def dose_at(self, clock_s: int) -> int:
        second = clock_s % S_PER_DAY
        dose = self.steps[-1][1] if self.steps else 0  # the last step runs past midnight
        for start, step_dose in self.steps:
            if start <= second:
                dose = step_dose
        return dose

    def next_step_s(self, clock_s: int) -> int | None:
        """Pump clock seconds until the next flex step starts; None: no steps change."""
        if len(self.steps) < 2:
            return None
        second = clock_s % S_PER_DAY
        later = [start for start, _ in self.steps if start > second]
        start = later[0] if later else self.steps[0][0] + S_PER_DAY
        return start - second

    def flow_nl_per_s(self, clock_s: int) -> float:
        if self.state in ("bolus", "priming"):
            return self.bolus_nl_per_s
        if self.state != "infusing" or not self.concentration:
            return 0.0
        basal_nl_per_day = round(self.dose_at(clock_s) * NL_PER_ML / self.concentration)
        return basal_nl_per_day / S_PER_DAY + self.patient_nl_per_s

    def run_to(self, t_s: int) -> None:
        """Integrate to continuous time ``t_s``, a point at every flex step on the way."""
        while self.t_s < t_s:
            clock = self.t_s - self.shift_s
            to_step = self.next_step_s(clock)
            end = t_s if to_step is None else min(t_s, self.t_s + to_step)
            if self.reservoir_nl is not None:
                pumped = self.flow_nl_per_s(clock) * (end - self.t_s)
                self.reservoir_nl = max(0.0, self.reservoir_nl - pumped)
            self.t_s = end
            self.mark()

    def mark(self) -> None:
        day = self.day(self.t_s)
        if self.steps:
            self.basal.append((day, self.dose_at(self.t_s - self.shift_s)))
        if self.reservoir_nl is not None:
            self.reservoir.append((day, self.reservoir_nl / NL_PER_ML))


def log_series(records: Iterable[LogRecord]) -> LogSeries:
    """The series ``plot_log`` draws, from the log's records alone (pure)."""
    entries = [(r, parse_detail(r.detail)) for r in sorted(records, key=lambda r: r.index)]
    if not entries:
        return LogSeries(0, 0.0, (), (), (), (), (), (), (), (), (), ())
    first_state = next((d for r, d in entries if r.kind == "state"), {})
    times = _continuous(entries)
    walk = _Walk(times[0][0], first_state.get("previous", "stopped"))
    boluses: list[Marker] = []
    refills: list[Marker] = []
    residuals: list[Marker] = []
    alarms: list[Marker] = []
    exposures: list[Span] = []
    paused: list[Span] = []
    open_spans: dict[str, tuple[float, str]] = {}  # cause -> (start day, label)
    paused_since: float | None = None if walk.state in DELIVERING else 0.0

    for (record, detail), (now_s, shift_s) in zip(entries, times, strict=True):
        walk.run_to(now_s)  # on the clock in force before this entry
        walk.shift_s = shift_s
        day = walk.day(now_s)
        kind = record.kind
        if kind == "programmed":
            walk.steps = _programmed_steps(detail)
        elif kind == "refill":
            added_nl = int(detail.get("added_nl", "0"))
            walk.concentration = int(detail.get("concentration_ug_per_ml", "0"))
            residuals.append(
                Marker(day, "expected residual", int(detail.get("expected_nl", "0")) / NL_PER_ML)
            )
            walk.reservoir_nl = float(added_nl)
            refills.append(Marker(day, "refill", added_nl / NL_PER_ML))
        elif kind == "bolus_started":
            volume_nl = int(detail.get("volume_nl", "0"))
            duration_s = float(detail.get("duration_s", "0"))
            walk.bolus_nl_per_s = volume_nl / duration_s if duration_s else 0.0
            boluses.append(Marker(day, detail.get("bolus", "bolus"), volume_nl / NL_PER_ML))
        elif kind == "patient_limits":
            walk.patient_duration_s = int(detail.get("duration_s", "0"))
        elif kind == "patient_bolus_started":
            dose_nl = int(detail.get("dose_ug", "0")) * NL_PER_ML / (walk.concentration or 1)
            lasts_s = walk.patient_duration_s
            walk.patient_nl_per_s = dose_nl / lasts_s if lasts_s else 0.0
            boluses.append(Marker(day, "patient", dose_nl / NL_PER_ML))
        elif kind in ("patient_bolus_completed", "patient_bolus_cancelled"):
            walk.patient_nl_per_s = 0.0
        elif kind == "state":
            walk.state = detail.get("state", walk.state)
            if walk.state in DELIVERING and paused_since is not None:
                if day > paused_since:
                    paused.append(Span(paused_since, day, detail.get("previous", "")))
                paused_since = None
            elif walk.state not in DELIVERING and paused_since is None:
                paused_since = day
        elif kind == "alarm":
            alarms.append(Marker(day, detail.get("alarm", "alarm")))
        elif kind == "temperature":
            _close(open_spans, "heat", day, exposures)
            celsius = float(detail.get("celsius", BODY_CELSIUS))
            if celsius != BODY_CELSIUS:
                open_spans["heat"] = (day, f"{celsius:g} °C")
        elif kind in ("mri_started", "occlusion_started"):
            cause = kind.removesuffix("_started")
            open_spans.setdefault(cause, (day, "MRI" if cause == "mri" else cause))
        elif kind in ("mri_ended", "occlusion_ended"):
            _close(open_spans, kind.removesuffix("_ended"), day, exposures)
        walk.mark()

    end_day = walk.day(walk.t_s)
    for cause in list(open_spans):
        _close(open_spans, cause, end_day, exposures)
    if paused_since is not None:
        paused.append(Span(paused_since, end_day, walk.state))
    return LogSeries(
        start_clock_s=entries[0][0].t_s,
        end_day=end_day,
        basal_t_day=tuple(t for t, _ in walk.basal),
        basal_ug_per_day=tuple(dose for _, dose in walk.basal),
        reservoir_t_day=tuple(t for t, _ in walk.reservoir),
        reservoir_ml=tuple(ml for _, ml in walk.reservoir),
        boluses=tuple(boluses),
        refills=tuple(refills),
        residuals=tuple(residuals),
        alarms=tuple(alarms),
        exposures=tuple(sorted(exposures)),
        not_delivering=tuple(paused),
    )


def _continuous(entries: list[tuple[LogRecord, dict[str, str]]]) -> list[tuple[int, int]]:
    """Each entry's time with clock settings taken out, and the shift that takes them out
    (continuous minus pump clock) from that entry on: a ``clock_set`` entry is stamped with
    the clock it set."""
    shift_s = 0
    times: list[tuple[int, int]] = []
    for record, detail in entries:
        if record.kind == "clock_set":
            shift_s += int(detail.get("previous_s", "0")) - int(detail.get("clock_s", "0"))
        times.append((record.t_s + shift_s, shift_s))
    return times


def _programmed_steps(detail: dict[str, str]) -> list[tuple[int, int]]:
    if detail.get("mode") == "flex":
        steps = json.loads(detail.get("steps", "[]"))
        return sorted((int(start), int(dose)) for start, dose in steps)
    return [(0, int(detail.get("dose_ug_per_day", "0")))]


def _close(spans: dict[str, tuple[float, str]], cause: str, day: float, out: list[Span]) -> None:
    if cause in spans:
        start, label = spans.pop(cause)
        out.append(Span(start, day, label))


def plot_records(records: Iterable[LogRecord], path: str | Path) -> LogSeries:
    """``log --plot``: draw the records to ``path``; a missing matplotlib or a path that
    cannot be written is a usage error (exit 2), said in one line."""
    try:
        return plot_log(log_series(records), path)
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'itb-pump-emulator[plot]'") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot write plot {path}: {exc}") from None


def plot_log(series: LogSeries, path: str | Path) -> LogSeries:
    """Draw ``series`` to a PNG at ``path`` (1500 x 1000 px); return what was drawn."""
    start = datetime.fromtimestamp(series.start_clock_s, UTC).strftime("%Y-%m-%d %H:%M")
    title = f"Pump event log from {start} UTC"
    with timeline_figure(path, title, height_ratios=(3, 2)) as (volume, basal):
        _draw_volume(series, volume)
        plot_steps(
            basal,
            series.basal_t_day,
            series.basal_ug_per_day,
            colour="tab:green",
            label="programmed basal",
        )
        basal.set_ylabel("programmed basal (µg/day)")
        basal.set_ylim(0, 1.25 * max(series.basal_ug_per_day, default=0) or 1.0)
        for marker in series.boluses:
            text = f"{marker.what} bolus {marker.volume_ml:.3g} mL"
            mark_instant((basal,), marker.t_day, text, colour="tab:olive", linewidth=1.0)
        basal.set_xlabel(f"days from {start} UTC (pump clock)")
        for axes in (volume, basal):
            _shade(series, axes, named=axes is volume)
    return series


def _draw_volume(series: LogSeries, volume: Axes) -> None:
    volume.plot(
        series.reservoir_t_day,
        series.reservoir_ml,
        color="tab:blue",
        linestyle="--",
        label=ESTIMATE_LABEL,
    )
    if series.residuals:
        volume.plot(
            [m.t_day for m in series.residuals],
            [m.volume_ml for m in series.residuals],
            linestyle="none",
            marker="x",
            color="black",
            label="left at refill, as the pump reckoned",
        )
    mark_refills(volume, series.refills)
    for marker in series.alarms:
        mark_instant(
            (volume,), marker.t_day, spoken(marker.what), colour="tab:red", linewidth=0.8, alpha=0.6
        )
    volume.set_ylabel("reservoir (mL), estimated")
    volume.set_ylim(0, 1.3 * max(series.reservoir_ml, default=1.0) or 1.0)


def _shade(series: LogSeries, axes: Axes, *, named: bool) -> None:
    """Exposures in orange, times without delivery in grey; ``named``: labelled, in the
    legend too."""
    exposures = [(span.start_day, span.end_day) for span in series.exposures]
    label = "exposure (heat, MRI, occlusion)" if named else None
    shade_spans(axes, exposures, colour="tab:orange", alpha=0.25, label=label)
    if named:
        for span in series.exposures:
            axes.annotate(
                span.what,
                (span.start_day, 0.02),
                xycoords=axes.get_xaxis_transform(),
                fontsize=8,
                color="tab:orange",
            )
    paused = [(span.start_day, span.end_day) for span in series.not_delivering]
    label = "not delivering" if named else None
    shade_spans(axes, paused, colour="grey", alpha=0.2, label=label)
