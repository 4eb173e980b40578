"""Settings and checks for the whole unit suite.

No per-example deadline: on a busy two-core CI machine a slow example is not a bug, and a
deadline would turn load into flaky failures. In CI the search is derandomized, so a run is
reproducible; locally it explores afresh each time.

Every kind a pump writes in any test must be in the table of log kinds, with the detail keys
the table lists: the protocol documentation is generated from that table, and a kind missing
from it is silently clinical.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

from firmware_model import Pump
from firmware_model.log_kinds import KINDS

settings.register_profile("default", deadline=None, print_blob=True)
settings.register_profile("ci", deadline=None, print_blob=True, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(autouse=True)
def _every_written_kind_is_in_the_table(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    written: dict[str, set[str]] = {}
    record = Pump._record

    def recording(pump: Pump, kind: str, **detail: object) -> None:
        written.setdefault(kind, set()).update(detail)
        record(pump, kind, **detail)

    monkeypatch.setattr(Pump, "_record", recording)
    yield
    unknown = sorted(set(written) - set(KINDS))
    assert not unknown, f"log kinds missing from firmware_model/log_kinds.py: {unknown}"
    for kind, keys in written.items():
        listed = KINDS[kind].keys
        if not any(key.startswith("<") for key in listed):  # "<reason>": a family of keys
            assert keys <= set(listed), f"{kind}: keys {sorted(keys - set(listed))} not listed"
