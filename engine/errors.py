"""The one exception type a user sees: a message naming the bad input, and a hint."""

from __future__ import annotations


class EngineError(Exception):
    """A problem with the user's input or set-up, reported without a traceback.

    `message` says what is wrong and names the file / row / field / key;
    `hint` says how to fix it.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message
