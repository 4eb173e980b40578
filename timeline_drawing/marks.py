"""The marks both timeline pictures make alike: refills at the volume filled, instants as
labelled vertical lines, and shaded spans of time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from timeline_drawing.marker import Marker

if TYPE_CHECKING:  # matplotlib is loaded only when a picture is drawn
    from matplotlib.axes import Axes

REFILL_COLOUR = "tab:purple"


def spoken(name: str) -> str:
    """A model's name as a picture says it: "low_reservoir" is "low reservoir"."""
    return name.replace("_", " ")


def mark_refills(volume: Axes, refills: Sequence[Marker], *, annotated: bool = True) -> None:
    """Refills as triangles at the volume filled (in the legend as "refill"), each labelled
    "+V mL" beside it when ``annotated``."""
    if refills:
        volume.plot(
            [m.t_day for m in refills],
            [m.volume_ml for m in refills],
            linestyle="none",
            marker="^",
            markersize=9,
            color=REFILL_COLOUR,
            label="refill",
        )
    if annotated:
        for marker in refills:
            volume.annotate(
                f"+{marker.volume_ml:g} mL",
                (marker.t_day, marker.volume_ml),
                xytext=(6, -4),
                textcoords="offset points",
                va="top",
                fontsize=9,
                color=REFILL_COLOUR,
            )


def mark_instant(
    panels: Sequence[Axes],
    t_day: float,
    text: str,
    *,
    colour: str,
    linewidth: float,
    alpha: float | None = None,
    top: float = 0.98,
) -> None:
    """A vertical line at ``t_day`` across ``panels``, and ``text`` written up the first
    panel, hanging from ``top`` (a fraction of the panel's height)."""
    for panel in panels:
        panel.axvline(t_day, color=colour, linewidth=linewidth, alpha=alpha)
    first = panels[0]
    first.annotate(
        text,
        (t_day, top),
        xycoords=first.get_xaxis_transform(),  # x in days, y in the panel's height
        rotation=90,
        va="top",
        ha="right",
        fontsize=8,
        color=colour,
    )


def shade_spans(
    axes: Axes,
    spans: Iterable[tuple[float, float]],
    *,
    colour: str,
    alpha: float,
    label: str | None = None,
) -> None:
    """Each ``(start_day, end_day)`` shaded across the panel's height; ``label`` names the
    first in the legend, so that a kind of span is listed once however many there are."""
    for i, (start_day, end_day) in enumerate(spans):
        axes.axvspan(
            start_day,
            end_day,
            color=colour,
            alpha=alpha,
            linewidth=0,
            label=None if i else label,
        )
