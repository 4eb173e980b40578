"""docs/hil.md's conformance tables, kept true: every code docs/protocol.md marks as sent is
provoked by the test named for it, every message type is exchanged by its test, and the
conformance plugin's idea of which codes are sent, signed or unsigned is the document's.

Markers are read from the test files' source (decorators, parameters' marks included), so
this runs in milliseconds without starting a device.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from hil_tests.conformance import ALWAYS_SIGNED, ALWAYS_UNSIGNED, NEVER_SENT, SENDABLE, SEQ_ZERO
from protocol import Reason
from protocol.messages import MessageType

ROOT = Path(__file__).resolve().parent.parent
HIL = ROOT / "hil_tests"
CHECKED_MARKS = ("emulator_only", "needs_control", "destructive", "changes_therapy")
_ROW = re.compile(r"^\|(.+)\|\s*$")


def _table(text: str, heading: str) -> list[list[str]]:
    """The rows of the first table after ``heading``, cells stripped of spaces."""
    after = text.split(heading, 1)[1]
    rows: list[list[str]] = []
    for line in after.splitlines():
        match = _ROW.match(line.strip())
        if match is None:
            if rows:
                break
            continue
        cells = [cell.strip() for cell in match.group(1).split("|")]
        if not set("".join(cells)) <= set("-: "):
            rows.append(cells)
    return rows[1:]  # without the header


def _name(cell: str) -> str:
    return cell.strip("`")


def _markers() -> dict[str, dict[str, set[str]]]:
    """``file.py::test`` -> marker name -> its string arguments, for every test in hil_tests."""
    found: dict[str, dict[str, set[str]]] = {}
    for path in sorted(HIL.glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test"):
                continue
            marks: dict[str, set[str]] = {}
            for decorator in node.decorator_list:
                for call in ast.walk(decorator):
                    name = _mark_name(call)
                    if name is not None:
                        args = marks.setdefault(name, set())
                        if isinstance(call, ast.Call):
                            args.update(
                                a.value
                                for a in call.args
                                if isinstance(a, ast.Constant) and isinstance(a.value, str)
                            )
            found[f"{path.name}::{node.name}"] = marks
    return found


def _mark_name(node: ast.AST) -> str | None:
    """``X`` for ``pytest.mark.X`` or ``pytest.mark.X(...)``."""
    target = node.func if isinstance(node, ast.Call) else node
    if (
        isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Attribute)
        and target.value.attr == "mark"
    ):
        return target.attr
    return None


def _sent_column() -> dict[str, str]:
    """docs/protocol.md section 8: reason name -> its "sent" cell."""
    text = (ROOT / "docs" / "protocol.md").read_text()
    return {_name(row[1]): row[2] for row in _table(text, "### Reason codes")}


def test_the_plugins_sendable_codes_are_the_documents() -> None:
    sent = _sent_column()
    assert set(sent) == {reason.name for reason in Reason}
    never = {name for name, cell in sent.items() if "never" in cell}
    assert never == {reason.name for reason in NEVER_SENT}
    assert {reason.name for reason in SENDABLE} == set(sent) - never


def test_the_plugins_signing_rules_are_the_documents() -> None:
    sent = {name: cell for name, cell in _sent_column().items() if "never" not in cell}
    assert {n for n, cell in sent.items() if cell == "signed"} == {r.name for r in ALWAYS_SIGNED}
    unsigned = {n for n, cell in sent.items() if cell.startswith("unsigned")}
    assert unsigned == {r.name for r in ALWAYS_UNSIGNED}
    assert {n for n, cell in sent.items() if cell == "unsigned, seq 0"} == {
        r.name for r in SEQ_ZERO
    }


def test_every_sendable_code_has_the_test_that_provokes_it() -> None:
    rows = _table((ROOT / "docs" / "hil.md").read_text(), "### Reason codes")
    markers = _markers()
    listed = [_name(row[1]) for row in rows]
    assert sorted(listed) == sorted(reason.name for reason in SENDABLE), "one row per code"
    for code, reason, test, marks, how in rows:
        name = _name(reason)
        assert code == f"`0x{Reason[name]:02X}`", f"{name}: code {code}"
        test = _name(test)
        assert test in markers, f"{name}: no test {test} in hil_tests"
        assert name in markers[test].get("provokes", set()), (
            f"{test} is not marked to provoke {name}"
        )
        assert _marks(marks) == _checked(markers[test]), f"{test}: marks column {marks!r}"
        assert how, f"{name}: say how it is provoked"


def test_every_message_type_has_a_test_that_exchanges_it() -> None:
    rows = _table((ROOT / "docs" / "hil.md").read_text(), "### Message types")
    markers = _markers()
    assert [_name(row[1]) for row in rows] == [t.name for t in MessageType], "one row per type"
    for code, message, test, marks in rows:
        name = _name(message)
        assert code == f"`0x{MessageType[name]:02X}`", f"{name}: code {code}"
        test = _name(test)
        assert test in markers, f"{name}: no test {test} in hil_tests"
        assert name in markers[test].get("exchanges", set()), f"{test} does not exchange {name}"
        assert _marks(marks) == _checked(markers[test]), f"{test}: marks column {marks!r}"


def test_every_promise_in_the_suite_names_a_code_or_type() -> None:
    sendable = {reason.name for reason in SENDABLE}
    types = {t.name for t in MessageType}
    for test, marks in _markers().items():
        assert marks.get("provokes", set()) <= sendable, test
        assert marks.get("exchanges", set()) <= types, test


def test_the_table_reader_sees_marks_inside_parameters(tmp_path: Path) -> None:
    source = (
        "import pytest\n"
        "@pytest.mark.destructive\n"
        "@pytest.mark.parametrize('x', [pytest.param(1, marks=pytest.mark.provokes('BAD_CRC'))])\n"
        "def test_x(x): pass\n"
    )
    node = ast.parse(source).body[1]
    assert isinstance(node, ast.FunctionDef)
    names = {_mark_name(n) for d in node.decorator_list for n in ast.walk(d)} - {None}
    assert names == {"destructive", "parametrize", "provokes"}


def _marks(cell: str) -> set[str]:
    return {mark.strip() for mark in cell.split(",") if mark.strip()}


def _checked(marks: dict[str, set[str]]) -> set[str]:
    return {name for name in marks if name in CHECKED_MARKS}
