"""How much time the invocation has left (pure: fed by Lambda's context)."""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.core.errors import DeadlineExceeded

#: Seconds kept back to record, write, copy and notify once processing stops.
MAX_RESERVE_SECONDS = 10.0
MIN_RESERVE_SECONDS = 0.5
#: A lease outlives its invocation by this much, so a crashed attempt's retry
#: (Lambda waits about a minute) finds it expired and takes over.
LEASE_MARGIN_SECONDS = 30
UNBOUNDED_LEASE_SECONDS = 900


class Deadline:
    """Wraps ``context.get_remaining_time_in_millis``; ``None`` means no limit."""

    def __init__(
        self,
        remaining_ms: Callable[[], int] | None = None,
        reserve_seconds: float | None = None,
    ) -> None:
        self._remaining_ms = remaining_ms
        start = self.remaining()
        if reserve_seconds is not None:
            self.reserve = reserve_seconds
        elif start is None:
            self.reserve = 0.0
        else:  # a fifth of the budget, within bounds: 10 s of a 120 s function
            self.reserve = min(MAX_RESERVE_SECONDS, max(MIN_RESERVE_SECONDS, start * 0.2))

    @classmethod
    def from_context(cls, context: object) -> Deadline:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return cls(remaining if callable(remaining) else None)

    def remaining(self) -> float | None:
        return None if self._remaining_ms is None else self._remaining_ms() / 1000.0

    def check(self, step: str) -> None:
        """Raise :class:`DeadlineExceeded` if ``step`` would eat into the reserve."""
        left = self.remaining()
        if left is not None and left < self.reserve:
            raise DeadlineExceeded(
                f"the function's time limit was about to run out while {step} "
                f"({left:.1f} s left): raise the Lambda timeout or memory for files this large"
            )

    def affords(self, seconds: float) -> bool:
        """True when waiting ``seconds`` still leaves the reserve (always, without a limit)."""
        left = self.remaining()
        return left is None or left - seconds > self.reserve

    def lease_seconds(self) -> int:
        left = self.remaining()
        if left is None:
            return UNBOUNDED_LEASE_SECONDS
        return int(left) + LEASE_MARGIN_SECONDS
