"""Who did something: a person, an integration or the system itself."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

ActorKind = Literal["user", "integration", "system"]


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    ref: str
    user: AbstractBaseUser | None = None

    @classmethod
    def for_user(cls, user: AbstractBaseUser) -> Actor:
        return cls(kind="user", ref=user.get_username(), user=user)

    @classmethod
    def for_integration(cls, name: str) -> Actor:
        return cls(kind="integration", ref=name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.ref}"


SYSTEM = Actor(kind="system", ref="system")


def command_actor(command: str) -> Actor:
    """Whoever ran a management command: no Django user is logged in, so the record names the
    command and the operating-system account that ran it."""
    try:
        account = getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (a bare container)
        account = "unknown"
    return Actor(kind="system", ref=f"{command}@{account}"[:150])
