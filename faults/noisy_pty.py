"""Changing commands over a real pty, through a noisy proxy, to a real emulator process.

    programmer --(pty A)--> NoisyProxy --(pty B)--> pump-emulator --speed 1000

The proxy is a thread that copies bytes both ways through ``transport.LineNoise`` (the noise
model of docs/protocol.md, section 1). Real ports, real time, real scheduling: what the
sans-IO campaign (``faults.noisy_link``) cannot show. Executions are counted from the pump's
own log, read afterwards with the noise turned off.

    python -m faults.noisy_pty [COMMANDS] [SEED]
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from faults.noisy_link import (
    Figures,
    Mix,
    campaign_main,
    count_executions,
    run_command,
    tally,
)
from hil_tests.emulator_process import EmulatorProcess
from programmer import Programmer, ProgrammerError
from protocol import LogRecord, Outgoing, Reason
from transport import LineNoise, NoiseModel, PtyChannel, SerialChannel

SPEED = 1_000  # simulated seconds per real second: a bolus's minute passes in 60 ms


class NoisyProxy:
    """A pty for the programmer, wired to the emulator's pty through line noise.

    ``cut_after``: once it says yes to bytes from the programmer, those bytes still reach the
    pump, and then the line goes dead both ways (a cable pulled just after a command).
    """

    def __init__(
        self,
        pump_port: str,
        model: NoiseModel,
        seed: int,
        cut_after: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.front = PtyChannel(poll_interval_s=0.002)
        self.path = self.front.path
        self._back = SerialChannel(pump_port, poll_interval_s=0.002)
        self.up = LineNoise(model, seed)
        self.down = LineNoise(model, seed + 1)
        self.noisy = True
        self.cut = False
        self._cut_after = cut_after
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._pump, args=(self.front, self._back, self.up), daemon=True
            ),
            threading.Thread(
                target=self._pump, args=(self._back, self.front, self.down), daemon=True
            ),
        ]

    def __enter__(self) -> NoisyProxy:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.front.close()
        self._back.close()

    def _pump(self, source: PtyChannel | SerialChannel, sink: PtyChannel | SerialChannel,
              noise: LineNoise) -> None:  # fmt: skip
        while not self._stop.is_set():
            try:
                data = source.read_some()
            except OSError:
                return
            if not data or self.cut:
                continue
            cutting = source is self.front and self._cut_after is not None and self._cut_after(data)
            if cutting:  # dead both ways before these bytes reach the pump, so that no reply
                self.cut = True  # to them can slip back through the other thread
            sink.write(noise.apply(data) if self.noisy else data)


def executions_from_records(records: Iterable[LogRecord]) -> dict[str, int]:
    """As ``faults.noisy_link.executions``, from log records read over the wire: ``req`` is
    the second pair of a record's detail when it is there (docs/protocol.md, section 10)."""
    return count_executions((record.kind, _request_of(record.detail)) for record in records)


def _request_of(detail: str) -> str | None:
    for part in detail.split(" ")[:2]:
        if part.startswith("req="):
            return part[len("req=") :]
    return None


def run_pty(
    commands: int = 100,
    seed: int = 20261123,
    *,
    noise: NoiseModel | None = None,
    timeout_s: float = 0.05,
    budget_s: float = 10.0,
) -> Figures:
    started = time.perf_counter()
    model = NoiseModel() if noise is None else noise
    figures = Figures(seed)
    with tempfile.TemporaryDirectory() as tmp:
        emulator = EmulatorProcess(Path(tmp), extra_args=("--speed", str(SPEED)))
        with emulator, NoisyProxy(emulator.port, model, seed) as proxy:
            sent: list[Outgoing] = []
            programmer = open_through(proxy.path, emulator, timeout_s, budget_s)
            programmer.link.on_changing_request = sent.append
            results: list[tuple[str, Reason | None]] = []
            names: list[list[str]] = []
            mix = Mix(lambda sim_s: time.sleep(sim_s / SPEED))
            try:
                for _name, action in mix.commands():
                    if len(results) >= commands:
                        break
                    before = len(sent)
                    results.append(run_command(programmer, action))
                    names.append([f"{o.session_id:08x}:{o.counter}" for o in sent[before:]])
                figures.retransmissions = programmer.link.retransmissions
                figures.reconnections = programmer.link.reconnections
            finally:
                programmer.close()
            proxy.noisy = False  # count on the pump's side, over a clean line
            with open_through(proxy.path, emulator, 1.0, budget_s) as reader:
                ran = executions_from_records(reader.log_entries())
            for noise_side in (proxy.up, proxy.down):
                figures.bytes_flipped += noise_side.counts.flipped
                figures.bytes_dropped += noise_side.counts.dropped
                figures.bytes_duplicated += noise_side.counts.duplicated
    for (outcome, reason), request_names in zip(results, names, strict=True):
        tally(figures, outcome, reason, request_names, ran)
    figures.wall_seconds = figures.link_seconds = time.perf_counter() - started
    return figures


def open_through(
    path: str,
    emulator: EmulatorProcess,
    timeout_s: float,
    budget_s: float = 10.0,
    operator: str = "noisy-pty",
    attempts: int = 20,
) -> Programmer:
    """A clinician session through a faulty line: opening may take a few tries."""
    for _ in range(attempts):
        try:
            return Programmer.open(
                path,
                key_file=emulator.key_file,
                timeout_s=timeout_s,
                retries=20,
                budget_s=budget_s,
                operator=operator,
            )
        except ProgrammerError:
            continue
    raise RuntimeError("could not open a session through the faulty line")


if __name__ == "__main__":
    sys.exit(campaign_main(run_pty, 100))
