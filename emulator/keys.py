"""The emulator's keys, handled as SSH handles private keys.

There is no built-in key. A key file that group or others may read is refused, as is one
whose keys cannot be random. New random keys (mode 0600) are written only where no file
exists, and only when asked: at the default location on a first run, so ``make run`` needs
no set-up, or at an explicit path with ``--new-keys``, so that a typo in ``--key-file`` is an
error rather than a pump with new keys.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from protocol import KeyFileError, Keyring, default_key_path
from protocol.keyring import KEYS_ENV, mode_problem


class NoKeyFile(KeyFileError):
    """A key file named explicitly that does not exist: most likely a typo."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no key file {path} (add --new-keys to create one)")
        self.path = path


class NoKeyFolder(KeyFileError):
    """Where a new key file should go there is no folder; it is not made, a typo is likelier."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            f"no folder {path.parent} for key file {path} "
            "(--new-keys creates the file, not its folder)"
        )
        self.path = path


@dataclass(frozen=True)
class PumpKeys:
    """The keyring the emulator serves with, where it came from, and whether it is new."""

    keyring: Keyring
    source: str
    created: bool


def find_keys(
    serial_number: str, key_file: Path | None, new_keys: bool, environ: Mapping[str, str]
) -> PumpKeys:
    """An explicit key file, else ``$PUMP_KEYS``, else the default location (made if missing)."""
    if key_file is not None:
        if new_keys:
            keyring, created = load_or_create(key_file, serial_number)
        else:
            keyring, created = load(key_file), False
        return PumpKeys(keyring, str(key_file), created)
    from_env = environ.get(KEYS_ENV)
    if from_env:
        try:
            return PumpKeys(Keyring.from_json(from_env), f"${KEYS_ENV}", False)
        except KeyFileError as exc:
            raise KeyFileError(f"${KEYS_ENV}: {exc}") from exc
    path = Path(default_key_path(serial_number, environ))
    keyring, created = load_or_create(path, serial_number, make_folder=True)
    return PumpKeys(keyring, str(path), created)


def load(path: Path) -> Keyring:
    """The keyring at ``path``, refused if missing, open to others, malformed or weak."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise NoKeyFile(path) from None
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    with handle:
        problem = mode_problem(os.fstat(handle.fileno()).st_mode, str(path))
        if problem is not None:
            raise problem
        try:
            data = handle.read()
        except OSError as exc:
            raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None
    try:
        return Keyring.from_json(data.decode("utf-8", errors="replace"))
    except KeyFileError as exc:
        raise KeyFileError(f"key file {path}: {exc}") from exc


def load_or_create(
    path: Path, serial_number: str, *, make_folder: bool = False
) -> tuple[Keyring, bool]:
    """The keyring at ``path``, or new random keys written there when there is no file.

    An existing file is never overwritten. Its folder is made only if ``make_folder``.
    """
    try:
        return load(path), False
    except NoKeyFile:
        pass
    if make_folder:
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise KeyFileError(f"cannot make folder {path.parent}: {exc.strerror}") from None
    try:
        return create(path, serial_number), True
    except FileExistsError:  # another emulator wrote it since we looked
        return load(path), False


def create(path: Path, serial_number: str) -> Keyring:
    """New random keys in a new file, mode 0600; FileExistsError if the file exists."""
    keyring = Keyring.generate(serial_number)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileNotFoundError:
        raise NoKeyFolder(path) from None
    except FileExistsError:
        raise  # not a failure: load_or_create then reads the file that is there
    except OSError as exc:
        raise KeyFileError(f"cannot create key file {path}: {exc.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)  # whatever the umask
            json.dump(keyring.to_plain(), handle, indent=2)
            handle.write("\n")
    except BaseException as exc:
        path.unlink(missing_ok=True)  # no half-written key file left behind
        if isinstance(exc, OSError):
            raise KeyFileError(f"cannot write key file {path}: {exc.strerror}") from None
        raise
    return keyring
