"""Station roles: operator (start/stop), engineer (thresholds, ROI, recipes, camera), administrator (PINs).

The engineer's and the administrator's PINs (or passwords) are kept in `<station home>/roles.json` only
as salted scrypt hashes (hashlib, no extra dependency): the file can be read without revealing a PIN,
and a guess costs ~50 ms of memory-hard work. The operator needs no PIN. Until the administrator's PIN is
set nobody can become engineer, so a new station says how to set it (`FIRST_RUN_HELP`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from enum import IntEnum
from pathlib import Path
from typing import Any

from inspection_core.errors import AoiError
from inspection_core.runtime.atomic import atomic_write_text
from inspection_core.runtime.home import station_home

ROLES_FILE = "roles.json"
MIN_PIN = 4
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
FIRST_RUN_HELP = (
    "No PIN is set on this station yet. The administrator sets one once, in a terminal on the station: "
    "`aoi roles set-pin administrator`, then `aoi roles set-pin engineer` (or logs in here as "
    "administrator and uses 'Set engineer PIN…')."
)


class RoleError(AoiError):
    """A PIN is wrong, too short, or the roles file cannot be read or written."""


class Role(IntEnum):
    """Ordered: a higher role may do everything a lower one may."""

    OPERATOR = 0
    ENGINEER = 1
    ADMINISTRATOR = 2

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            raise RoleError(f"unknown role {name!r}: use operator, engineer or administrator") from None


def _hash(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=32)


class RoleStore:
    """The PIN hashes in `path` (default `<station home>/roles.json`)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else station_home() / ROLES_FILE

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RoleError(f"cannot read the roles file {self.path}: {exc}") from exc
        return data if isinstance(data, dict) else {}

    def has_pin(self, role: Role) -> bool:
        return isinstance(self._read().get(role.label), dict)

    def set_pin(self, role: Role, pin: str) -> None:
        """Store a new salted hash for `role` (the caller checks who may do this)."""
        if role is Role.OPERATOR:
            raise RoleError("the operator role has no PIN")
        if len(pin) < MIN_PIN:
            raise RoleError(f"a PIN needs at least {MIN_PIN} characters")
        salt = secrets.token_bytes(16)
        data = self._read()
        data[role.label] = {"salt": salt.hex(), "hash": _hash(pin, salt, **_SCRYPT).hex(), **_SCRYPT}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.path, json.dumps(data, indent=2), RoleError)
        except OSError as exc:
            raise RoleError(f"cannot write the roles file {self.path}: {exc}") from exc

    def verify(self, role: Role, pin: str) -> bool:
        """True when `pin` is `role`'s PIN; an administrator's PIN also opens the engineer role."""
        if role is Role.OPERATOR:
            return True
        data = self._read()
        for name in (role.label, Role.ADMINISTRATOR.label):
            rec = data.get(name)
            if not isinstance(rec, dict):
                continue
            try:
                salt = bytes.fromhex(rec["salt"])
                want = bytes.fromhex(rec["hash"])
                got = _hash(pin, salt, int(rec["n"]), int(rec["r"]), int(rec["p"]))
            except (KeyError, ValueError, TypeError) as exc:
                raise RoleError(f"the roles file {self.path} is damaged ({name}): set the PIN again") from exc
            if hmac.compare_digest(got, want):
                return True
        return False

    def any_pin(self) -> bool:
        """False on a new station: nobody can become engineer until the administrator sets a PIN."""
        return self.has_pin(Role.ENGINEER) or self.has_pin(Role.ADMINISTRATOR)
