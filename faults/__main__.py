"""``make faults``: every fault campaign, a table, ``benchmarks/faults.json``, exit 1 on a miss.

    python -m faults [--quick] [--only NAME ...] [--json PATH]

Each campaign is a module with ``campaign(quick: bool) -> dict[str, float]``, bounded in
count and time, that stops by itself (``faults.targets.CAMPAIGNS``; docs/faults.md). They run
one after the other in this process. A campaign that is missing, or raises, is reported and
makes the run fail: its figures were not measured, and nothing stands in for them. The JSON
is one flat object of numbers; with ``--only`` the figures are merged into the file's.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from faults.targets import CAMPAIGNS, Campaign, broken_targets, target_of

DEFAULT_JSON = Path(__file__).resolve().parent.parent / "benchmarks" / "faults.json"
CampaignFunction = Callable[[bool], dict[str, float]]


def load(campaign: Campaign) -> CampaignFunction | None:
    try:
        module = importlib.import_module(campaign.module)
    except ImportError:
        return None
    function = getattr(module, "campaign", None)
    return function if callable(function) else None


def run_campaigns(
    campaigns: tuple[Campaign, ...], quick: bool
) -> tuple[dict[str, float], list[str], dict[str, float], dict[str, list[str]]]:
    """(figures, problems, seconds per campaign, keys each campaign returned)."""
    figures: dict[str, float] = {}
    returned: dict[str, list[str]] = {}
    problems: list[str] = []
    seconds: dict[str, float] = {}
    for campaign in campaigns:
        function = load(campaign)
        if function is None:
            problems.append(f"{campaign.name}: {campaign.module}.campaign(quick) is missing")
            print(f"== {campaign.name}: MISSING ({campaign.module} has no campaign())", flush=True)
            continue
        print(f"== {campaign.name} ({campaign.module})", flush=True)
        started = time.perf_counter()
        try:
            result = function(quick)
        except Exception as exc:
            problems.append(f"{campaign.name} raised {type(exc).__name__}: {exc}")
            traceback.print_exc()
            result = {}
        seconds[campaign.name] = time.perf_counter() - started
        print(f"   {campaign.name}: {seconds[campaign.name]:.1f} s", flush=True)
        figures.update({key: float(value) for key, value in result.items()})
        returned[campaign.name] = list(result)
    return figures, problems, seconds, returned


def table(
    figures: dict[str, float],
    campaigns: tuple[Campaign, ...],
    quick: bool,
    returned: dict[str, list[str]],
) -> str:
    broken = " ".join(broken_targets(figures, quick, campaigns))
    rows = [("key", "value", "target", "")]
    for campaign in campaigns:
        extra = [k for k in returned.get(campaign.name, []) if k not in campaign.keys]
        keys = [*campaign.keys, *extra]
        for key in keys:
            value = figures.get(key)
            shown = "missing" if value is None else _shown(value)
            target = target_of(key, quick)
            verdict = "" if not target else ("FAIL" if value is None or key in broken else "ok")
            rows.append((key, shown, target, verdict))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _shown(value: float) -> str:
    return f"{int(value):,}" if value.is_integer() else f"{value:,.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short campaigns: a smoke test")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        choices=[c.name for c in CAMPAIGNS],
        help="run only this campaign (repeatable): " + ", ".join(c.name for c in CAMPAIGNS),
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where the figures go")
    args = parser.parse_args(argv)
    chosen = tuple(c for c in CAMPAIGNS if not args.only or c.name in args.only)
    started = time.perf_counter()
    figures, problems, seconds, returned = run_campaigns(chosen, args.quick)
    figures["faults_wall_s"] = round(time.perf_counter() - started, 1)
    figures["faults_quick"] = float(args.quick)
    for name, spent in seconds.items():
        figures[f"faults_{name}_s"] = round(spent, 1)
    print()
    print(table(figures, chosen, args.quick, returned))
    _write(args.json, figures, merge=bool(args.only))
    broken = problems + broken_targets(figures, args.quick, chosen)
    print(f"\nfigures written to {args.json}; {figures['faults_wall_s']:.0f} s in all")
    for line in broken:
        print(f"FAIL: {line}")
    if not broken:
        print("every hard target holds")
    return 1 if broken else 0


def _write(path: Path, figures: dict[str, float], *, merge: bool) -> None:
    data: dict[str, float] = {}
    if merge and path.exists():
        try:
            loaded = json.loads(path.read_text())
            if isinstance(loaded, dict):
                data = {k: float(v) for k, v in loaded.items() if isinstance(v, int | float)}
        except (OSError, ValueError):
            data = {}
    data.update(figures)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    sys.exit(main())
