"""How much each benchmark does: the full run of ``make bench`` and a smoke run (``--quick``,
seconds, for the test that checks the JSON). Quick figures are not figures to quote."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    rounds: int = 7  # A B A B rounds for every interleaved comparison (at least 5)
    link_requests: int = 5_000  # timed round trips per program per round
    link_warmup: int = 100
    rss_first: int = 10_000  # emulator RSS read after this many status requests ...
    rss_last: int = 100_000  # ... and after this many
    codec_frames: int = 50_000  # frames per side per round
    model_rounds: int = 5
    log_fill: bool = True  # fill both log rings before the paced download
    hil_args: tuple[str, ...] = ("hil_tests",)
    quick: bool = False


FULL = Settings()
QUICK = Settings(
    rounds=2,
    link_requests=200,
    link_warmup=20,
    rss_first=200,
    rss_last=1_000,
    codec_frames=2_000,
    model_rounds=1,
    log_fill=False,
    hil_args=("hil_tests/test_identity.py",),
    quick=True,
)
