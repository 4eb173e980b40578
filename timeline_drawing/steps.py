"""A quantity that holds from one sample to the next (a rate, a temperature, a programmed
dose), drawn as the steps it is rather than as slopes between samples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is loaded only when a picture is drawn
    from matplotlib.axes import Axes


def plot_steps(
    axes: Axes,
    t_day: Sequence[float],
    values: Sequence[float],
    *,
    colour: str,
    label: str | None = None,
    linestyle: str = "-",
) -> None:
    """Each value held from its ``t_day`` to the next one's; ``label``: in the legend."""
    axes.plot(t_day, values, drawstyle="steps-post", color=colour, linestyle=linestyle, label=label)
