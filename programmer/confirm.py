"""Asking before acting: every changing command shows its screen, then asks.

On a terminal the programmer asks; ``--yes`` answers for the clinician (a script, a test
rig); without a terminal and without ``--yes`` nothing is sent (exit 2), so no pipeline can
change a pump by accident. ``--dry-run`` shows the screen and sends nothing. ``--yes`` never
stands in for ``--confirm-withdrawal-risk``, nor for ``--accept-discrepancy``: those answer
a second, specific question.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from programmer.errors import UsageError
from programmer.screens import Screen


class DryRun(Exception):
    """The screen was shown; by request, nothing is sent."""


class Declined(Exception):
    """The clinician answered no: nothing is sent."""


class NothingToDo(Exception):
    """The request asks for what the pump already does: nothing is sent, nothing logged."""


@dataclass
class Confirmation:
    yes: bool = False
    dry_run: bool = False
    interactive: bool = False
    ask: Callable[[str], str] = input
    show: Callable[[str], None] = print

    def confirm(self, screen: Screen, question: str = "Send this to the pump?") -> None:
        """Show the screen; return if the answer is yes, else raise DryRun or Declined."""
        self.show(screen.render())
        if self.dry_run:
            raise DryRun
        if self.yes:
            return
        self._ask(question, "--yes")

    def confirm_again(self, warning: str, question: str, accepted: bool, option: str) -> None:
        """A second question about one specific risk, answered only by its own option."""
        self.show(f"WARNING: {warning}")
        if accepted or self.dry_run:
            return
        self._ask(question, option)

    def _ask(self, question: str, option: str) -> None:
        if not self.interactive:
            raise UsageError(
                f"not sent: this needs a confirmation; run it in a terminal, or add {option}"
            )
        try:
            answer = self.ask(f"{question} [y/N] ").strip().lower()
        except EOFError:  # Ctrl-D: the question has no answer, and no answer is no
            raise Declined from None
        if answer not in ("y", "yes"):
            raise Declined
