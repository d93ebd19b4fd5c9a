"""A small, exactly specified subset of JSONPath: one selector picks at most one value.

    selector := "$" step*
    step     := "." name            a key made of letters, digits, "_" and "-":  $.monitor.name
              | "[" integer "]"     a list item, from 0; negative counts from the end:  $.alerts[0], $.x[-1]
              | "[" quoted "]"      any key, in "double" or 'single' quotes, \\ escaping \\, " and ':
                                    $["key with space"]

`$` alone is the whole body. There are no wildcards, filters or slices: a mapping field takes one
value, so a selector that could pick several would only move the ambiguity elsewhere. Written
here rather than taken from a JSONPath library because the libraries implement the whole
language (and disagree on its corners), and their errors do not say which character is wrong.
"""

import re
from dataclasses import dataclass

# The longest selector accepted; deeper paths than this are not a mapping anybody writes.
MAX_LENGTH = 500

_NAME = re.compile(r"[A-Za-z0-9_-]+")
_INTEGER = re.compile(r"-?[0-9]+")


class SelectorError(ValueError):
    """A selector that is not in the subset; the message says what and where."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


@dataclass(frozen=True)
class Selector:
    text: str
    steps: tuple[str | int, ...]

    def __str__(self) -> str:
        return self.text

    def select(self, data: object) -> object:
        """The value the selector points at in `data`, or MISSING when there is none."""
        value = data
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(value, list) or not -len(value) <= step < len(value):
                    return MISSING
                value = value[step]
            else:
                if not isinstance(value, dict) or step not in value:
                    return MISSING
                value = value[step]
        return value


def parse(text: str) -> Selector:
    """The selector `text` spells; SelectorError naming the first wrong character otherwise."""
    text = text.strip()
    if not text:
        raise SelectorError("The selector is empty; it starts with $, e.g. $.title.")
    if len(text) > MAX_LENGTH:
        raise SelectorError(f"The selector is longer than {MAX_LENGTH} characters.")
    if text[0] != "$":
        raise SelectorError(f"A selector starts with $ (the whole body), e.g. $.{text.lstrip('.')}.")
    steps: list[str | int] = []
    at = 1
    while at < len(text):
        char = text[at]
        if char == ".":
            match = _NAME.match(text, at + 1)
            if match is None:
                raise SelectorError(
                    f"After the “.” at character {at + 1} comes a key of letters, digits, _ or -; "
                    f'write other keys as ["…"].'
                )
            steps.append(match.group())
            at = match.end()
        elif char == "[":
            step, at = _bracket(text, at)
            steps.append(step)
        else:
            raise SelectorError(f'Unexpected “{char}” at character {at + 1}: a step is .key, [0] or ["key"].')
    return Selector(text, tuple(steps))


def _bracket(text: str, start: int) -> tuple[str | int, int]:
    """The step of the [ … ] that opens at `start`, and where the text goes on after it."""
    at = start + 1
    if at < len(text) and text[at] in "\"'":
        quote, key, at = text[at], [], at + 1
        while at < len(text) and text[at] != quote:
            if text[at] == "\\":
                at += 1
                if at >= len(text) or text[at] not in "\\\"'":
                    raise SelectorError(f"At character {at}: inside quotes, \\ escapes only \\, \" and '.")
            key.append(text[at])
            at += 1
        if at >= len(text):
            raise SelectorError(f"The quote opened at character {start + 2} is not closed.")
        step: str | int = "".join(key)
        at += 1
    else:
        match = _INTEGER.match(text, at)
        if match is None:
            raise SelectorError(f'After the “[” at character {start + 1} comes a number or a quoted key: [0], ["key"].')
        step, at = int(match.group()), match.end()
    if at >= len(text) or text[at] != "]":
        raise SelectorError(f"The “[” at character {start + 1} is not closed by “]”.")
    return step, at + 1
