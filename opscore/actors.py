"""Who did something: a person, an integration or the system itself."""

from __future__ import annotations

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
