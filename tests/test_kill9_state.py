"""Issues 9 and 11, short: kill -9 during programming commits with ``--state``; after each
restart the pump holds the old or the new prescription, never a mix, and never loses a commit
the library reported done (``python -m faults.kill9_state 2000 SEED 1000`` is the long run)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

import faults.kill9_state as kill9_state
from faults.emulator_forkserver import ForkServer
from faults.kill9_state import QUICK_KILLS, quick_run
from programmer import Programmer


@pytest.mark.timeout(300)
def test_kill9_during_commits_never_tears_or_loses_an_acknowledged_commit() -> None:
    figures = quick_run()
    print(figures.summary())
    assert figures.broken_promises() == []
    result = figures.as_campaign()
    assert set(result) == {
        "kill9_trials", "kill9_mid_commit", "kill9_between_commits", "kill9_during_save",
        "kill9_torn", "kill9_lost_acked", "kill9_wrong_outcome",
    }  # fmt: skip
    assert result["kill9_torn"] == 0
    assert result["kill9_lost_acked"] == 0
    assert result["kill9_wrong_outcome"] == 0
    assert result["kill9_trials"] == QUICK_KILLS
    # Every kill landed while the library was inside a commit, and each was a restart.
    assert result["kill9_mid_commit"] == QUICK_KILLS
    assert result["kill9_between_commits"] == 0
    assert figures.restarts == figures.forked_starts == figures.kills
    assert figures.restart_checks == figures.restarts
    assert figures.held_old + figures.held_new == figures.commits
    assert figures.done_and_kept == figures.done
    assert figures.not_done > 0  # some kills came before the pump ran the commit


def test_a_forked_emulator_is_a_process_of_its_own_killed_like_any(tmp_path: Path) -> None:
    server = ForkServer()
    try:
        port_file = tmp_path / "port"
        pid = server.start(
            ["--pty", "--speed", "0", "--key-file", str(tmp_path / "keys.json"),
             "--new-keys", "--port-file", str(port_file)],
            tmp_path / "emulator.log",
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert server.running(pid), (tmp_path / "emulator.log").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert port_file.read_text().startswith("/dev/pts/")
        assert pid != os.getpid()
        assert server.running(pid)
        os.kill(pid, signal.SIGKILL)
        status = server.reap(pid)
        assert os.WIFSIGNALED(status)
        assert os.WTERMSIG(status) == signal.SIGKILL
    finally:
        server.close()


def test_a_forked_emulator_that_cannot_start_ends_and_says_why(tmp_path: Path) -> None:
    server = ForkServer()
    try:
        pid = server.start(["--key-file", str(tmp_path / "missing.json")], tmp_path / "log")
        status = server.reap(pid)
        assert os.WIFEXITED(status)
        assert os.WEXITSTATUS(status) != 0
        assert "missing.json" in (tmp_path / "log").read_text()
    finally:
        server.close()


@pytest.mark.timeout(120)
def test_a_restart_that_finds_a_torn_state_file_is_counted_torn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A start that fails is ``kill9_torn``, not a round that stopped (whose figures would be
    thrown away): the campaign returns the count, and the runner fails on it."""
    start = kill9_state.Emulator.start

    def tearing(self: kill9_state.Emulator) -> str:
        if self.starts == 2:  # the second restart: as a torn generation would make it
            self.starts += 1
            raise kill9_state.StartError("start 3 not clean: pump.state.b: torn, kept aside")
        return start(self)

    def impatient(path: str, key_file: Path, timeout_s: float) -> Programmer:
        return Programmer.open(path, key_file=key_file, timeout_s=timeout_s, budget_s=2.0)

    monkeypatch.setattr(kill9_state.Emulator, "start", tearing)
    monkeypatch.setattr(kill9_state, "_open", impatient)
    monkeypatch.setattr(kill9_state, "READ_DEADLINE_S", 5.0)
    figures = kill9_state.run(100, kills=5)
    assert figures.errors == []
    assert figures.torn >= 1
    assert figures.as_campaign()["kill9_torn"] >= 1
