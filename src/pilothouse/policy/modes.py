"""Security modes of the kubectl command policy, ordered from least to most permissive."""

from __future__ import annotations

from enum import StrEnum


def _fold(spelling: str) -> str:
    """Reduce a spelling to letters only, so readOnly, read_only and READ-ONLY compare equal."""
    return spelling.replace("_", "").replace("-", "").casefold()


class SecurityMode(StrEnum):
    """How much a kubectl command may do. The values are the spellings used by the Kubently API.

    Construction is lenient about spelling (``SecurityMode("read_only")``, ``"READONLY"``) but
    strict about meaning: anything that is not one of the three modes raises ``ValueError``.
    """

    READ_ONLY = "readOnly"
    EXTENDED_READ_ONLY = "extendedReadOnly"
    FULL_ACCESS = "fullAccess"

    @classmethod
    def _missing_(cls, value: object) -> SecurityMode | None:
        if not isinstance(value, str):
            return None
        folded = _fold(value)
        for member in cls:
            if _fold(member.value) == folded:
                return member
        return None

    @property
    def rank(self) -> int:
        """Position in the permissiveness order (readOnly is 0)."""
        return list(SecurityMode).index(self)

    def permits(self, required: SecurityMode) -> bool:
        """Whether a command that needs ``required`` may run under this mode."""
        return self.rank >= required.rank


DEFAULT_SECURITY_MODE = SecurityMode.READ_ONLY
