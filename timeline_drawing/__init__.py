"""What the two timeline pictures draw alike: the scenario's (``pump-emulator simulate --plot``)
and the event log's (``pump-programmer log --plot``).

At the bottom layer, so that the emulator and the programmer, which may not import each other,
share one figure and one way of marking refills, instants and spans. It imports only the
standard library, and matplotlib when a figure is opened: importing it loads no plotting.
"""

from timeline_drawing.figure import DPI, FIGURE_IN, MatplotlibMissing, timeline_figure
from timeline_drawing.marker import Marker
from timeline_drawing.marks import mark_instant, mark_refills, shade_spans, spoken
from timeline_drawing.steps import plot_steps

__all__ = [
    "DPI",
    "FIGURE_IN",
    "Marker",
    "MatplotlibMissing",
    "mark_instant",
    "mark_refills",
    "plot_steps",
    "shade_spans",
    "spoken",
    "timeline_figure",
]
