"""The campaigns ``make faults`` runs, the keys each must return, and the hard targets.

Issue 11: every failure, crash, change, lost, torn, duplicate, wrong-outcome and accepted
count is 0 (and so is ``soak_errors``: link failures are failures); ``noisy_link_done`` at
least 95 % and ``noisy_link_unresolved`` at most 1 % of ``noisy_link_commands``;
``lockout_max_clinician_delay_s`` at most 60; ``soak_rss_growth_mb`` under 1 MB (the
bench's memory target, over a simulated year). A full run must also reach each campaign's
stated size (``MINIMUMS``); a quick run is a smoke test and need not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Campaign:
    name: str
    module: str  # exposes ``campaign(quick: bool) -> dict[str, float]``
    keys: tuple[str, ...]  # the keys it must return (it may return more)


CAMPAIGNS: tuple[Campaign, ...] = (
    Campaign("decoder", "faults.decoder_inputs", ("decoder_inputs", "decoder_failures")),
    Campaign(
        "live_fuzz",
        "faults.live_fuzz",
        (
            "live_fuzz_frames",
            "live_fuzz_state_changes",
            "live_fuzz_crashes",
            "live_fuzz_log_entries_lost",
        ),
    ),
    Campaign(
        "noisy_link",
        "faults.control_faults",
        (
            "noisy_link_commands",
            "noisy_link_done",
            "noisy_link_unresolved",
            "noisy_link_wrong_outcome",
            "noisy_link_duplicates",
        ),
    ),
    Campaign(
        "kill9",
        "faults.kill9_state",
        ("kill9_trials", "kill9_torn", "kill9_lost_acked", "kill9_wrong_outcome"),
    ),
    Campaign(
        "attacks",
        "faults.replay_forgery",
        ("replay_attempts", "replay_accepted", "forged_attempts", "forged_accepted"),
    ),
    Campaign(
        "lockout",
        "faults.keyless_burst",
        ("lockout_max_clinician_delay_s", "lockout_clinicians_shut_out"),
    ),
    Campaign("soak", "faults.soak", ("soak_hours_simulated", "soak_rss_growth_mb", "soak_errors")),
)

ZERO = (
    "decoder_failures",
    "live_fuzz_state_changes",
    "live_fuzz_crashes",
    "live_fuzz_log_entries_lost",
    "noisy_link_wrong_outcome",
    "noisy_link_duplicates",
    "kill9_torn",
    "kill9_lost_acked",
    "kill9_wrong_outcome",
    "replay_accepted",
    "forged_accepted",
    "lockout_clinicians_shut_out",
    "soak_errors",
)
MINIMUMS = {
    "decoder_inputs": 1_000_000,
    "live_fuzz_frames": 100_000,
    "noisy_link_commands": 10_000,
    "kill9_trials": 1_000,
    "soak_hours_simulated": 8_760,
}
# A campaign that ran nothing proved nothing: these are above 0 in any run, quick or not.
NONZERO = (*MINIMUMS, "replay_attempts", "forged_attempts")
MIN_DONE = 0.95
MAX_UNRESOLVED = 0.01
MAX_LOCKOUT_S = 60.0
MAX_SOAK_GROWTH_MB = 1.0  # as make bench's emulator_rss_growth_mb: a leak shows in a year


def target_of(key: str, quick: bool) -> str:
    """The target of a key, as the table prints it; "" for a key without one."""
    if key in ZERO:
        return "= 0"
    if key == "noisy_link_done":
        return f">= {MIN_DONE:.0%} of commands"
    if key == "noisy_link_unresolved":
        return f"<= {MAX_UNRESOLVED:.0%} of commands"
    if key == "lockout_max_clinician_delay_s":
        return f"<= {MAX_LOCKOUT_S:g}"
    if key == "soak_rss_growth_mb":
        return f"< {MAX_SOAK_GROWTH_MB:g}"
    if key in MINIMUMS and not quick:
        return f">= {MINIMUMS[key]:,}"
    if key in NONZERO:
        return "> 0"
    return ""


def broken_targets(
    figures: Mapping[str, float], quick: bool, campaigns: tuple[Campaign, ...] = CAMPAIGNS
) -> list[str]:
    """Every hard target of these campaigns that a run's figures miss, in words; empty when
    all hold. A missing key is a miss: a campaign that did not run proved nothing."""
    ran = {key for campaign in campaigns for key in campaign.keys}
    broken = [f"{key} missing" for key in sorted(ran) if key not in figures]
    for key in ZERO:
        if key in ran and figures.get(key, 0) != 0:
            broken.append(f"{key} = {figures[key]:g}, must be 0")
    commands = figures.get("noisy_link_commands", 0)
    done = figures.get("noisy_link_done", 0)
    unresolved = figures.get("noisy_link_unresolved", 0)
    if "noisy_link_commands" in ran and "noisy_link_commands" in figures:
        if not done >= MIN_DONE * commands or commands <= 0:
            broken.append(f"noisy_link_done {done:g} < {MIN_DONE:.0%} of {commands:g}")
        if not unresolved <= MAX_UNRESOLVED * commands:
            broken.append(f"noisy_link_unresolved {unresolved:g} > 1 % of {commands:g}")
    lockout = figures.get("lockout_max_clinician_delay_s", 0)
    if not lockout <= MAX_LOCKOUT_S:  # NaN too: a figure that is not a number holds nothing
        broken.append(f"lockout_max_clinician_delay_s {lockout:g} > {MAX_LOCKOUT_S:g}")
    for key in NONZERO:
        if key in ran and key in figures and not figures[key] > 0:
            broken.append(f"{key} {figures[key]:g}: nothing was tried")
    growth = figures.get("soak_rss_growth_mb", 0)
    if not growth < MAX_SOAK_GROWTH_MB:
        broken.append(f"soak_rss_growth_mb {growth:g} >= {MAX_SOAK_GROWTH_MB:g}")
    if not quick:
        for key, minimum in MINIMUMS.items():
            if key in ran and key in figures and not figures[key] >= minimum:
                broken.append(f"{key} {figures[key]:g} < {minimum:,}")
    return broken
