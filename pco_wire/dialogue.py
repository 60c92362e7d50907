"""Questions and answers for the wizard: prompts on one stream, answers from another,
defaults in brackets, refused answers asked again (at a terminal) or ending the dialogue
(without one: a script asked again would loop forever), secrets read without echo."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO, TypeVar

    T = TypeVar("T")

__all__ = ["CLEAR", "Dialogue", "Refused", "Stop", "is_terminal", "yes_no", "yn"]

#: The answer that empties an optional setting which has a value (Enter keeps the value).
CLEAR = "-"


class Refused(Exception):
    """An answer that breaks a rule; ``str()`` is the reason."""


class Stop(Exception):
    """Ends the wizard with exit status ``code``; ``str()`` says why."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class Dialogue:
    """Questions on ``stdout``, answers from ``stdin``, one per line."""

    def __init__(self, stdin: TextIO, stdout: TextIO, interactive: bool) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.interactive = interactive

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def ask(
        self,
        question: str,
        default: str,
        parse: Callable[[str], T],
        *,
        hint: str = "",
        shown: str | None = None,
        secret: bool = False,
        clear: bool = False,
        echo: Callable[[str], str] | None = None,
    ) -> T:
        """The parsed answer to ``question``. Enter takes ``default`` (shown in brackets
        as ``shown``, or as itself unless ``secret``); with ``clear``, ``-`` stands for
        the empty answer. ``parse`` raises Refused with the reason for a bad answer.
        Without a terminal the answer is written after its prompt, as ``echo`` shows it
        (a secret not at all)."""
        bracket = shown if shown is not None or secret else default
        prompt = question + (f" ({hint})" if hint else "") + (f" [{bracket}]" if bracket else "")
        while True:
            answer = self._line(f"{prompt}: ", question, secret, echo)
            # A secret is taken as typed: spaces may be part of it.
            text = answer if secret else answer.strip()
            if not text:
                text = default
            elif clear and text == CLEAR:
                text = ""
            try:
                return parse(text)
            except Refused as exc:
                if not self.interactive:
                    raise Stop(
                        2,
                        f"invalid answer to {question!r}: {exc} (without a terminal a "
                        "question is not asked again); nothing saved",
                    ) from None
                self.say(f"  refused: {exc}")

    def yes(self, question: str, default: bool, *, hint: str = "") -> bool:
        return self.ask(question, "yes" if default else "no", yes_no, hint=hint, shown=yn(default))

    def _line(
        self, prompt: str, question: str, secret: bool, echo: Callable[[str], str] | None
    ) -> str:
        if secret and self.interactive and is_terminal(self.stdin):
            line = self._hidden(prompt)
        else:
            self.stdout.write(prompt)
            self.stdout.flush()
            line = self.stdin.readline()
            if line and not self.interactive:
                # Nobody typed it, so nothing echoed it: shown here, the output reads as
                # the dialogue it was. A secret never.
                shown = line.rstrip("\r\n")
                self.say("" if secret else echo(shown) if echo and shown else shown)
        if not line:
            self.say()
            expected = "" if self.interactive else ": expected one answer a line to the end"
            raise Stop(2, f"end of input at {question!r}{expected}; nothing saved")
        return line.removesuffix("\n").removesuffix("\r")

    def _hidden(self, prompt: str) -> str:
        """A line read from the terminal with echo off, as getpass does, but from our
        ``stdin`` (getpass reads /dev/tty, which need not be the stream we were given)."""
        import termios

        fd = self.stdin.fileno()
        before = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~termios.ECHO
        # Echo goes off before the prompt appears, so nothing typed after it can show;
        # TCSAFLUSH drops what was typed ahead, which would otherwise become the secret.
        termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
        try:
            self.stdout.write(prompt)
            self.stdout.flush()
            return self.stdin.readline()
        finally:
            termios.tcsetattr(fd, termios.TCSAFLUSH, before)
            self.say()  # the Enter was not echoed either


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def yn(default: bool) -> str:
    return "Y/n" if default else "y/N"


def yes_no(text: str) -> bool:
    word = text.lower()
    if word in ("y", "yes"):
        return True
    if word in ("n", "no"):
        return False
    raise Refused(f"expected yes or no, got {text!r}")
