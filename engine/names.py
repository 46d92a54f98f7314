"""Names people read — a user's id, first and last name and e-mail, a group's names, a token's
name — hold no character that is invisible or changes how the text around it is shown.

Refused: controls (category Cc: NUL, tabs, line breaks, C1), line and paragraph separators (Zl, Zp),
lone surrogates (Cs), and format characters (Cf): the bidi controls (U+202A–U+202E, U+2066–U+2069,
U+200E/U+200F, U+061C: "invoice" + U+202E + "fdp.exe" displays as "invoiceexe.pdf"), zero-width
characters (U+200B–U+200D, U+2060, U+FEFF), the soft hyphen and tags.

Kept: every letter, mark and space of every script, private-use characters (some Chinese systems
write rare characters of names, 生僻字, there) and unassigned ones (a newer Unicode's CJK extension
this Python does not know yet). Mongolian names, written in Dalad, need their free variation
selectors U+180B–U+180D and U+180F (marks, category Mn, kept), the narrow no-break space U+202F
before a suffix (a space, Zs, kept) and the vowel separator U+180E, the one format character kept:
it is part of the spelling of words ending in -a/-e (ᠬᠠᠷ U+180E ᠠ, qara). The zero-width joiner and non-joiner
are refused: Mongolian's variation selectors choose its letter forms, and in Han, Latin or
Cyrillic text they show nothing at all.
"""
from __future__ import annotations

import unicodedata
from typing import Optional

from .errors import InvalidInput

_REFUSED_CATEGORIES = {"Cc": "control", "Zl": "control", "Zp": "control", "Cs": "control", "Cf": "format"}
MONGOLIAN_VOWEL_SEPARATOR = "\u180e"
_KEPT = frozenset(MONGOLIAN_VOWEL_SEPARATOR)


def _refused_ranges() -> str:
    """The refused characters of the Basic Multilingual Plane as ranges of a regular expression's
    class (for the OpenAPI document's patterns: an ECMA pattern without the u flag cannot name a
    character beyond U+FFFF, nor a surrogate without matching halves of every such character)."""
    refused = [c for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF and chr(c) not in _KEPT
               and unicodedata.category(chr(c)) in _REFUSED_CATEGORIES]
    ranges, start = [], refused[0]
    for previous, current in zip(refused, refused[1:] + [None]):
        if current != previous + 1:
            ranges.append(f"\\u{start:04x}" + (f"-\\u{previous:04x}" if previous != start else ""))
            start = current
    return "".join(ranges)


REFUSED_BMP = _refused_ranges()


def hidden_character(text: str) -> Optional[tuple[str, str]]:
    """The first character of `text` a name may not hold and its kind ("control" or "format"), or None."""
    for character in text:
        if character.isprintable() or character == " " or character in _KEPT:
            continue  # (the fast path: isprintable is false for every refused category, and for spaces)
        kind = _REFUSED_CATEGORIES.get(unicodedata.category(character))
        if kind is not None:
            return character, kind
    return None


def code_point(character: str) -> str:
    """U+202E RIGHT-TO-LEFT OVERRIDE: how a message names a character that cannot be seen."""
    name = unicodedata.name(character, "")
    return f"U+{ord(character):04X}" + (f" {name}" if name else "")


class NameUnreadable(InvalidInput):
    """A name that holds a character check_name refuses; `field`, `character` and `kind` say which."""

    def __init__(self, field: str, character: str, kind: str):
        self.field, self.character, self.kind = field, character, kind
        if kind == "format":
            self.reason = (f"holds an invisible format character, {code_point(character)}: bidi controls and "
                           "zero-width characters change how a name is shown and are refused")
        else:
            self.reason = ("holds a control character (a line break, tab, NUL) or a lone surrogate, "
                           f"{code_point(character)}")
        super().__init__(f"{field} {self.reason}")


def check_name(value: Optional[str], field: str) -> None:
    """Raise NameUnreadable naming `field` when `value` holds a character a name may not hold."""
    if value:
        found = hidden_character(value)
        if found is not None:
            raise NameUnreadable(field, *found)
