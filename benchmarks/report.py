"""The table ``make bench`` prints: each figure of ours beside its peer's, the ratio the
issue sets a target on, and whether it holds. Targets are issue 11's."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

# Every key ``results.json`` must hold (issue 11, "make bench").
REQUIRED_KEYS = (
    "rtt_us_median", "rtt_us_p99", "requests_per_s", "pty_echo_rtt_us",
    "pymodbus_requests_per_s", "pymodbus_rtt_us_median", "rtt_vs_echo", "req_vs_pymodbus",
    "codec_decode_frames_per_s", "codec_encode_frames_per_s", "pymavlink_parse_frames_per_s",
    "pymavlink_pack_frames_per_s", "pymavlink_signed_parse_frames_per_s",
    "pymavlink_signed_pack_frames_per_s", "sim_speedup", "sim_flex24_7y_s",
    "emulator_rss_mb", "emulator_rss_growth_mb", "line_efficiency", "hil_tests", "hil_suite_s",
)  # fmt: skip

COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
}


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    ours: str
    peer: str | None = None
    ratio: str | None = None  # the key the target is on; else the target is on ``ours``
    target: tuple[str, float] | None = None


ROWS = (
    Row("status RTT median, µs (peer: raw echo)", "rtt_us_median", "pty_echo_rtt_us",
        "rtt_vs_echo", ("<=", 1.8)),
    Row("status requests/s (peer: pymodbus)", "requests_per_s", "pymodbus_requests_per_s",
        "req_vs_pymodbus", (">=", 2.0)),
    Row("status RTT median, µs (peer: pymodbus)", "rtt_us_median", "pymodbus_rtt_us_median"),
    Row("status RTT p99, µs (peer: pymodbus)", "rtt_us_p99", "pymodbus_rtt_us_p99"),
    Row("decode frames/s (peer: signed parse)", "codec_decode_frames_per_s",
        "pymavlink_signed_parse_frames_per_s", "decode_vs_pymavlink_signed", (">=", 1.0)),
    Row("decode frames/s (peer: unsigned parse)", "codec_decode_frames_per_s",
        "pymavlink_parse_frames_per_s", "decode_vs_pymavlink", (">=", 1.2)),
    Row("encode frames/s (peer: signed pack)", "codec_encode_frames_per_s",
        "pymavlink_signed_pack_frames_per_s", "encode_vs_pymavlink_signed", (">=", 1.0)),
    Row("encode frames/s (peer: unsigned pack)", "codec_encode_frames_per_s",
        "pymavlink_pack_frames_per_s", "encode_vs_pymavlink", (">=", 1.2)),
    Row("simulated s per wall s, 7 years", "sim_speedup", target=(">=", 8e8)),
    Row("flex24, 7 years, s", "sim_flex24_7y_s", target=("<=", 0.25)),
    Row("emulator RSS after 100,000 requests, MB", "emulator_rss_mb", target=("<=", 40)),
    Row("RSS growth 10,000 → 100,000, MB", "emulator_rss_growth_mb", target=("<", 1)),
    Row("log download, share of 115,200 baud", "line_efficiency", target=(">=", 0.9)),
    Row("HIL tests passed", "hil_tests", target=(">=", 60)),
    Row("HIL suite, s", "hil_suite_s", target=("<=", 60)),
)  # fmt: skip


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value or math.isinf(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1e7:
        return f"{value:.2e}"
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if magnitude >= 1 else f"{value:.3f}"


def verdict(row: Row, results: dict[str, float]) -> str:
    if row.target is None:
        return ""
    value = results.get(row.ratio or row.ours)
    if value is None:
        return "not measured"
    how, bound = row.target
    return "pass" if COMPARE[how](value, bound) else "FAIL"


def table(results: dict[str, float]) -> str:
    """A Markdown table: the console's and docs/performance.md's."""
    header = ("figure", "ours", "peer", "ratio", "target", "holds")
    lines = [header]
    for row in ROWS:
        if row.ours not in results:
            continue
        target = (
            ""
            if row.target is None
            else f"{'ratio ' if row.ratio else ''}{row.target[0]} {row.target[1]:g}"
        )
        ratio = results.get(row.ratio) if row.ratio else None
        if ratio is None and row.peer is not None and results.get(row.peer):
            ratio = results[row.ours] / results[row.peer]
        lines.append((
            row.name, fmt(results[row.ours]), fmt(results.get(row.peer)) if row.peer else "",
            fmt(ratio) if ratio is not None else "", target, verdict(row, results),
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |"
           for line in lines]  # fmt: skip
    out.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)
