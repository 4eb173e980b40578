"""A state file that survives ``kill -9`` and power loss: two generations, each checksummed.

``--state FILE`` keeps two generations beside each other, ``FILE.a`` and ``FILE.b``. A save
writes the slot that does not hold the newest generation: to ``FILE.<slot>.tmp`` in the same
folder, fsync, ``os.replace`` over the slot, fsync the folder. The newest generation is never
touched, so at every instant at least one complete generation exists, whatever is killed
when. Each generation is two lines of ASCII:

    {"format":"itb-emulator-state","length":N,"sha256":"<hex>"}
    {"version":1,"sequence":S,"saved_unix_us":...,"state":{...}}

The second line is canonical JSON (``canonical``: compact, ASCII) of N bytes; the header
holds its SHA-256. ``sequence`` grows by one with every save, across restarts, and names the
newest valid generation. A generation that is not whole (short, bit-flipped, garbage) is
torn: ``load`` takes the other, and keeps the torn one aside as ``FILE.<slot>.torn-<n>`` (it
is evidence, never deleted), saying so in a one-line note. Only when generations exist and
none is whole does ``load`` fail, naming the file. A generation of another envelope version
is migrated (``MIGRATIONS``) or refused, naming both versions; the state inside carries its
own versions (``emulator.device_state``, ``firmware_model.persistence``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

FORMAT = "itb-emulator-state"
VERSION = 1
SLOTS = ("a", "b")

# version: a function turning that version's envelope body into the next version's. None yet.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class StateFileError(Exception):
    """A state file that cannot be used: one line naming the file and why."""


class _Torn(Exception):
    """A generation that is not whole."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """The newest valid generation: the state inside, and what ``load`` had to say."""

    state: dict[str, Any]
    path: Path  # the generation it came from
    sequence: int
    saved_unix_us: int  # wall clock when it was saved: how long the emulator was down
    notes: tuple[str, ...] = ()


@dataclass(slots=True)
class _Generation:
    slot: str
    path: Path
    version: int
    sequence: int
    body: dict[str, Any] = field(repr=False)


class StateFile:
    def __init__(self, path: Path, *, durable: bool = True) -> None:
        """``durable=False`` skips the fsyncs: for tests of the format alone."""
        self.path = path
        self._durable = durable
        self.sequence = 0  # the newest generation's, loaded or saved; 0: none yet
        self._newest: str | None = None  # the slot holding it
        self._lock: BinaryIO | None = None

    def slot_path(self, slot: str) -> Path:
        return self.path.with_name(f"{self.path.name}.{slot}")

    # -- one emulator per state file -------------------------------------------------------

    def lock(self) -> None:
        """Hold ``FILE.lock`` for this process's life: a second emulator on the same state
        would overwrite the first's generations. The kernel releases it on ``kill -9``."""
        lock_path = self.path.with_name(f"{self.path.name}.lock")
        try:
            handle = lock_path.open("ab")
        except OSError as exc:
            raise StateFileError(f"{lock_path}: cannot open: {_why(exc)}") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise StateFileError(
                f"{self.path}: in use by another emulator (it holds {lock_path.name})"
            ) from None
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- loading -------------------------------------------------------------------------

    def load(self) -> Loaded | None:
        """The newest valid generation; None when there is no generation at all."""
        found: list[_Generation] = []
        torn: list[tuple[str, Path, str]] = []
        for slot in SLOTS:
            path = self.slot_path(slot)
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StateFileError(f"{path}: cannot read: {_why(exc)}") from None
            try:
                found.append(_parse(slot, path, data))
            except _Torn as why:
                torn.append((slot, path, str(why)))
        self._remove_unfinished_saves()
        if not found and not torn:
            return None
        if not found:
            reasons = "; ".join(f"{path.name}: torn ({why})" for _, path, why in torn)
            raise StateFileError(f"{self.path}: no valid saved state ({reasons})")
        newest = max(found, key=lambda g: g.sequence)
        body = self._migrated(newest)
        notes = [self._keep_aside(slot, path, why) for slot, path, why in torn]
        self.sequence, self._newest = newest.sequence, newest.slot
        state, saved = body.get("state"), body.get("saved_unix_us")
        if not isinstance(state, dict) or not isinstance(saved, int):
            raise StateFileError(f"{newest.path}: no state in a whole generation")
        return Loaded(state, newest.path, newest.sequence, saved, tuple(notes))

    def _migrated(self, generation: _Generation) -> dict[str, Any]:
        body = generation.body
        if generation.version == VERSION:
            return body
        if generation.version not in MIGRATIONS:
            migrates = ", ".join(map(str, MIGRATIONS)) or "none"
            raise StateFileError(
                f"{generation.path}: state file version {generation.version}; this emulator "
                f"reads version {VERSION} (and migrates {migrates})"
            )
        while body["version"] != VERSION:
            body = MIGRATIONS[body["version"]](body)
        return body

    def _keep_aside(self, slot: str, path: Path, why: str) -> str:
        n = 1
        while (aside := path.with_name(f"{path.name}.torn-{n}")).exists():
            n += 1
        try:
            os.replace(path, aside)
            self._sync_folder()
        except OSError as exc:
            raise StateFileError(
                f"{path}: torn ({why}), cannot keep it aside: {_why(exc)}"
            ) from None
        return f"{path.name}: torn ({why}), kept aside as {aside.name}"

    def _remove_unfinished_saves(self) -> None:
        """A temporary file is a save that never returned: nothing was answered on it."""
        for slot in SLOTS:
            with contextlib.suppress(FileNotFoundError):
                self._tmp_path(slot).unlink()

    # -- saving --------------------------------------------------------------------------

    def save(self, state: dict[str, Any]) -> None:
        """Make ``state`` the newest generation, durably, before returning; on failure
        (StateFileError) the generations on disk are as they were."""
        sequence = self.sequence + 1
        slot = SLOTS[1] if self._newest == SLOTS[0] else SLOTS[0]
        body = {
            "version": VERSION,
            "sequence": sequence,
            "saved_unix_us": time.time_ns() // 1_000,
            "state": state,
        }
        try:
            text = canonical(body)
        except (TypeError, ValueError) as exc:
            raise StateFileError(f"{self.path}: state is not plain data: {exc}") from None
        data = text.encode("ascii")
        digest = hashlib.sha256(data).hexdigest()
        header = canonical({"format": FORMAT, "length": len(data), "sha256": digest})
        tmp = self._tmp_path(slot)
        try:
            self._write(tmp, header.encode("ascii") + b"\n" + data + b"\n")
            os.replace(tmp, self.slot_path(slot))
            self._sync_folder()
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StateFileError(f"{self.slot_path(slot)}: cannot save: {_why(exc)}") from None
        self.sequence, self._newest = sequence, slot

    def _write(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self._durable:
                os.fsync(fd)
        finally:
            os.close(fd)

    def _sync_folder(self) -> None:
        if not self._durable:
            return
        fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _tmp_path(self, slot: str) -> Path:
        return self.path.with_name(f"{self.path.name}.{slot}.tmp")


def canonical(value: object) -> str:
    """The one text of a plain value: no spaces, ASCII, no NaN, keys in the order given.
    Not sorted: the order of a log entry's details is part of what the pump sends."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _parse(slot: str, path: Path, data: bytes) -> _Generation:
    if not data:
        raise _Torn("empty")
    first, newline, rest = data.partition(b"\n")
    try:
        header = json.loads(first)
    except ValueError:
        raise _Torn("unreadable header") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _Torn("not a state file")
    length, digest = header.get("length"), header.get("sha256")
    if not newline or not isinstance(length, int) or not isinstance(digest, str):
        raise _Torn("unreadable header")
    body = rest[:length]
    if len(body) != length or rest[length:] != b"\n":
        raise _Torn(f"{len(rest)} bytes after the header, {length + 1} expected")
    if hashlib.sha256(body).hexdigest() != digest:
        raise _Torn("checksum mismatch")
    try:
        plain = json.loads(body)
    except ValueError:
        raise _Torn("checksum matches, but no JSON") from None
    if not isinstance(plain, dict):
        raise _Torn("not a state object")
    version, sequence = _counting(plain.get("version")), _counting(plain.get("sequence"))
    if version is None or sequence is None:
        raise _Torn("no version or sequence number")
    return _Generation(slot, path, version, sequence, plain)


def _counting(value: object) -> int | None:
    """A positive integer, or None."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


__all__ = ["FORMAT", "MIGRATIONS", "VERSION", "Loaded", "StateFile", "StateFileError"]
