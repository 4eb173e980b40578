"""timeline_drawing: the figure and marks both timeline pictures share, and matplotlib loaded
only once a figure is opened."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy
import pytest
from matplotlib import pyplot
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.text import Annotation

from tests.timeline_png import decoded_size
from timeline_drawing.figure import MatplotlibMissing, timeline_figure
from timeline_drawing.marker import Marker
from timeline_drawing.marks import mark_instant, mark_refills, shade_spans, spoken
from timeline_drawing.steps import plot_steps

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_importing_the_package_loads_no_matplotlib() -> None:
    script = (
        "import sys, timeline_drawing\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_figure_is_panels_on_one_time_axis_saved_at_1500_by_1000(tmp_path: Path) -> None:
    png = tmp_path / "t.png"
    with timeline_figure(png, "A title", height_ratios=(3, 2, 2)) as panels:
        assert len(panels) == 3
        assert all(isinstance(p, Axes) for p in panels)
        top, bottom = panels[0], panels[-1]
        top.plot([0, 1], [1, 2], label="reservoir")
        assert not png.exists()  # saved once the caller is done
        heights = [p.get_position().height for p in panels]
    assert decoded_size(png) == (1500, 1000)
    assert top.get_shared_x_axes().joined(top, bottom)
    assert heights[0] > heights[1]
    legend = top.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["reservoir"]
    assert top.figure.get_suptitle() == "A title"
    assert pyplot.get_fignums() == []  # closed


def test_a_figure_the_caller_fails_to_draw_is_closed_and_not_saved(tmp_path: Path) -> None:
    png = tmp_path / "t.png"
    with pytest.raises(ZeroDivisionError), timeline_figure(png, "", height_ratios=(1,)):
        _ = 1 / 0
    assert not png.exists()
    assert pyplot.get_fignums() == []


def test_without_matplotlib_opening_a_figure_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib: ImportError
    with pytest.raises(MatplotlibMissing), timeline_figure(tmp_path / "t.png", "", (1,)):
        pytest.fail("drew without matplotlib")
    assert issubclass(MatplotlibMissing, ImportError)  # an ImportError handler still catches it
    assert not (tmp_path / "t.png").exists()


def test_refills_are_triangles_at_the_volume_labelled_only_when_asked(tmp_path: Path) -> None:
    refills = [Marker(0.0, "refill", 20.0), Marker(40.0, "refill", 18.5)]
    with timeline_figure(tmp_path / "t.png", "", (1, 1, 1)) as (labelled, bare, empty):
        mark_refills(labelled, refills)
        mark_refills(bare, refills, annotated=False)
        mark_refills(empty, [])
    [line] = labelled.get_lines()
    assert _values(line.get_xdata()) == [0.0, 40.0]
    assert _values(line.get_ydata()) == [20.0, 18.5]
    assert (line.get_marker(), line.get_label()) == ("^", "refill")
    assert [t.get_text() for t in labelled.texts] == ["+20 mL", "+18.5 mL"]
    assert len(bare.get_lines()) == 1
    assert len(bare.texts) == 0
    assert empty.get_lines() == []
    assert len(empty.texts) == 0


@pytest.mark.filterwarnings("ignore:No artists with labels")  # nothing named here
def test_an_instant_is_a_line_across_the_panels_named_on_the_first(tmp_path: Path) -> None:
    with timeline_figure(tmp_path / "t.png", "", (1, 1)) as (first, second):
        mark_instant((first, second), 45.0, "low reservoir", colour="red", linewidth=0.7, top=0.8)
    for panel in (first, second):
        [line] = panel.get_lines()
        assert _values(line.get_xdata()) == [45.0, 45.0]
        assert line.get_linewidth() == 0.7
    [text] = first.texts
    assert (text.get_text(), text.get_rotation()) == ("low reservoir", 90.0)
    assert isinstance(text, Annotation)
    assert text.xy == (45.0, 0.8)
    assert len(second.texts) == 0


def test_spans_are_shaded_and_named_once_in_the_legend(tmp_path: Path) -> None:
    with timeline_figure(tmp_path / "t.png", "", (1,)) as (panel,):
        shade_spans(panel, [(1.0, 2.0), (5.0, 6.5)], colour="grey", alpha=0.2, label="stopped")
    assert len(panel.patches) == 2
    legend = panel.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["stopped"]


def test_steps_hold_each_value_to_the_next_sample(tmp_path: Path) -> None:
    with timeline_figure(tmp_path / "t.png", "", (1,)) as (panel,):
        plot_steps(panel, [0.0, 1.0, 3.0], [0.4, 0.5, 0.5], colour="green", label="rate")
    [line] = panel.get_lines()
    assert isinstance(line, Line2D)
    assert line.get_drawstyle() == "steps-post"
    assert line.get_label() == "rate"


def test_names_are_spoken_with_spaces() -> None:
    assert spoken("low_reservoir") == "low reservoir"
    assert spoken("mri") == "mri"


def _values(data: object) -> list[float]:
    return [float(v) for v in numpy.asarray(data).tolist()]
