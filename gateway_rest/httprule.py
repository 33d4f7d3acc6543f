"""Path templates of ``google.api.http`` rules: parse, compile, match, percent-decode.

Grammar (google/api/http.proto)::

    Template  = "/" Segments [ Verb ] ;
    Segments  = Segment { "/" Segment } ;
    Segment   = "*" | "**" | LITERAL | Variable ;
    Variable  = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb      = ":" LITERAL ;

Contract beyond the grammar:

* ``"/"`` alone is accepted and matches only the root path.
* ``**`` may appear once, as the last segment of the path (bare or as the last segment of the
  last variable); only the verb may follow it. It matches zero or more segments.
* A variable may not contain another variable; ``{var}`` means ``{var=*}``; a field path
  may be bound by at most one variable.
* LITERALs may hold unreserved characters, sub-delims other than ``*``, ``@`` and
  ``%XX`` escapes. ``:`` outside a variable always starts the verb.
* Matching compares literals after RFC 3986 normalisation (escapes of unreserved characters
  decoded, other escapes upper-cased), so ``%61lerts`` matches ``alerts``.
* Empty request segments (``//`` or a trailing ``/``) never match anything.
* A template with a verb matches only when the last request segment ends in ``:verb``; a
  template without one treats a ``:`` in the request as ordinary segment text.
* Captured values are percent-decoded as http.proto says: a single-segment variable
  (``{v}``, ``{v=*}``, ``{v=lit}``) decodes every escape, ``%2F`` included; a multi-segment
  variable (``{v=a/*}``, ``{v=**}``) decodes every escape except ``%2F``/``%2f``, which stay
  encoded so the value's own ``/`` separators remain distinguishable. Decoded bytes must be
  UTF-8; malformed escapes or bad UTF-8 raise ``TranscodeError`` naming the variable.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from gateway_rest.errors import TemplateSyntaxError, TranscodeError

__all__ = [
    "PathTemplate",
    "RequestPath",
    "Segment",
    "SegmentKind",
    "Variable",
    "parse_template",
    "split_request_path",
]

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# pchar minus ":" (verb separator) and "*" (wildcards); "%" starts an escape.
_LITERAL_CHARS = _UNRESERVED | frozenset("!$&'()+,;=@")
_HEX = frozenset("0123456789abcdefABCDEF")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


class SegmentKind(enum.Enum):
    """What one template segment matches."""

    LITERAL = "literal"  # exactly its (normalised) text
    SINGLE = "*"  # one non-empty segment
    MULTI = "**"  # zero or more non-empty segments, only at the end


# Precedence rank of each position: literals beat "*", "*" beats the end of a template,
# and the end of a template beats "**" (so "/a/{x}" beats "/a/*/**" for "/a/b").
_RANK_LITERAL = 3
_RANK_SINGLE = 2
_RANK_END = 1
_RANK_MULTI = 0


@dataclass(frozen=True)
class Segment:
    """One compiled segment; ``literal`` is normalised and set only for LITERAL."""

    kind: SegmentKind
    literal: str = ""


@dataclass(frozen=True)
class Variable:
    """A ``{field.path=...}`` capture over ``segments[start:end]`` of its template.

    For a variable ending in ``**`` the capture runs to the end of the request path, so
    ``end`` only bounds the template segments, not the request segments.
    """

    field_path: str
    start: int
    end: int
    multi_segment: bool


@dataclass(frozen=True)
class RequestPath:
    """A request path split once so that every template can be tried against it.

    ``segments`` are the raw (still percent-encoded) segments; ``normalised`` is the same for
    literal comparison. ``verb`` is the normalised text after the last ``:`` of the last
    segment, and ``verb_segments``/``verb_normalised`` are the segments with ``:verb``
    removed; all three are None/empty when the last segment holds no ``:``.
    """

    raw: str
    segments: tuple[str, ...]
    normalised: tuple[str, ...]
    verb: str | None
    verb_segments: tuple[str, ...]
    verb_normalised: tuple[str, ...]


@dataclass(frozen=True)
class PathTemplate:
    """A compiled path template. Build with ``parse_template``."""

    source: str
    segments: tuple[Segment, ...]
    variables: tuple[Variable, ...]
    verb: str | None

    @property
    def has_multi(self) -> bool:
        return bool(self.segments) and self.segments[-1].kind is SegmentKind.MULTI

    @property
    def literal_count(self) -> int:
        return sum(1 for s in self.segments if s.kind is SegmentKind.LITERAL)

    @property
    def precedence(self) -> tuple[bool, int, tuple[int, ...]]:
        """Sort key among templates matching the same request: larger wins.

        A matched verb beats none (the client wrote ``:verb`` on purpose), then more literal
        segments win, then the template that is more specific at the first differing
        position (literal > ``*`` > end of template > ``**``).
        """
        ranks = [
            _RANK_LITERAL
            if s.kind is SegmentKind.LITERAL
            else _RANK_SINGLE
            if s.kind is SegmentKind.SINGLE
            else _RANK_MULTI
            for s in self.segments
        ]
        if not self.has_multi:
            ranks.append(_RANK_END)
        return (self.verb is not None, self.literal_count, tuple(ranks))

    @property
    def shape(self) -> tuple[tuple[Segment, ...], str | None]:
        """Templates with equal shapes match exactly the same paths (names do not count)."""
        return (self.segments, self.verb)

    def capture(self, request: RequestPath) -> dict[str, str] | None:
        """Match structurally; return raw (still encoded) values by field path, or None."""
        if self.verb is not None:
            if request.verb != self.verb:
                return None
            raw, norm = request.verb_segments, request.verb_normalised
        else:
            raw, norm = request.segments, request.normalised
        fixed = len(self.segments) - 1 if self.has_multi else len(self.segments)
        if len(raw) < fixed or (not self.has_multi and len(raw) != fixed):
            return None
        if any(not s for s in raw):
            return None
        for tmpl, seg in zip(self.segments[:fixed], norm, strict=False):
            if tmpl.kind is SegmentKind.LITERAL and tmpl.literal != seg:
                return None
        out: dict[str, str] = {}
        last = len(self.segments)
        for var in self.variables:
            stop = len(raw) if var.end == last and self.has_multi else var.end
            out[var.field_path] = "/".join(raw[var.start : stop])
        return out

    def decode(self, captured: Mapping[str, str]) -> dict[str, str]:
        """Percent-decode values from ``capture`` by each variable's rule (see module doc)."""
        out: dict[str, str] = {}
        for var in self.variables:
            value = captured[var.field_path]
            out[var.field_path] = percent_decode(
                value, keep_slash=var.multi_segment, field=var.field_path
            )
        return out

    def match(self, path: str | bytes) -> dict[str, str] | None:
        """Match a raw request path; return decoded variables by field path, or None."""
        captured = self.capture(split_request_path(path))
        return None if captured is None else self.decode(captured)


def percent_decode(value: str, *, keep_slash: bool, field: str | None = None) -> str:
    """Decode ``%XX`` escapes to UTF-8 text; with ``keep_slash`` leave ``%2F``/``%2f`` as is."""
    data = bytearray()
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "%":
            pair = value[i + 1 : i + 3]
            if len(pair) != 2 or not set(pair) <= _HEX:
                raise TranscodeError(
                    f"malformed percent-escape in path variable {field!s}: {value!r}", field
                )
            if keep_slash and pair in ("2F", "2f"):
                data += b"%" + pair.encode("ascii")
            else:
                data.append(int(pair, 16))
            i += 3
        else:
            data += ch.encode("utf-8", "surrogateescape")
            i += 1
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise TranscodeError(
            f"path variable {field!s} is not valid UTF-8 after percent-decoding", field
        ) from None


def _normalise(segment: str) -> str:
    """RFC 3986 6.2.2: decode escapes of unreserved characters, upper-case the others."""

    def repl(m: re.Match[str]) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if ch in _UNRESERVED else "%" + m.group(1).upper()

    return _ESCAPE.sub(repl, segment) if "%" in segment else segment


def split_request_path(path: str | bytes) -> RequestPath:
    """Split a raw request path (percent-encoded, as sent; bytes are read as UTF-8).

    Anything from the first ``?`` or ``#`` on is dropped. A path not starting with ``/``
    gets no segments that can match, since every template starts with ``/``.
    """
    text = path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path
    for stop in ("?", "#"):
        text = text.split(stop, 1)[0]
    if not text.startswith("/"):
        # One empty segment: matches nothing, not even the root template.
        return RequestPath(text, ("",), ("",), None, (), ())
    segments: tuple[str, ...] = () if text == "/" else tuple(text[1:].split("/"))
    normalised = tuple(_normalise(s) for s in segments)
    verb: str | None = None
    verb_segments: tuple[str, ...] = ()
    verb_normalised: tuple[str, ...] = ()
    if segments and ":" in segments[-1]:
        head, _, tail = segments[-1].rpartition(":")
        verb = _normalise(tail)
        verb_segments = (*segments[:-1], head)
        verb_normalised = (*normalised[:-1], _normalise(head))
    return RequestPath(text, segments, normalised, verb, verb_segments, verb_normalised)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, reason: str, pos: int | None = None) -> TemplateSyntaxError:
        return TemplateSyntaxError(self.text, self.pos if pos is None else pos, reason)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, ch: str) -> None:
        if self.peek() != ch:
            found = repr(self.peek()) if self.peek() else "end of template"
            raise self.error(f"expected {ch!r}, found {found}")
        self.pos += 1

    def literal(self, what: str) -> str:
        start = self.pos
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "%":
                pair = self.text[self.pos + 1 : self.pos + 3]
                if len(pair) != 2 or not set(pair) <= _HEX:
                    raise self.error("'%' must start a two-digit hex escape")
                self.pos += 3
            elif ch in _LITERAL_CHARS:
                self.pos += 1
            else:
                break
        if self.pos == start:
            ch = self.peek()
            if not ch or ch in "/}:":
                raise self.error(f"empty {what}")
            raise self.error(f"character {ch!r} is not allowed in a {what}")
        return _normalise(self.text[start : self.pos])

    def segment(self, in_variable: bool) -> Segment:
        if self.text.startswith("**", self.pos):
            self.pos += 2
            seg = Segment(SegmentKind.MULTI)
        elif self.peek() == "*":
            self.pos += 1
            seg = Segment(SegmentKind.SINGLE)
        else:
            return Segment(SegmentKind.LITERAL, self.literal("segment"))
        ch = self.peek()
        if ch not in ("", "/", "}" if in_variable else ":"):
            raise self.error(f"a wildcard must be a whole segment, found {ch!r} after it")
        return seg

    def field_path(self) -> str:
        parts: list[str] = []
        while True:
            m = _IDENT.match(self.text, self.pos)
            if m is None:
                raise self.error("expected a field name (letters, digits, '_')")
            parts.append(m.group(0))
            self.pos = m.end()
            if self.peek() != ".":
                return ".".join(parts)
            self.pos += 1

    def parse(self) -> PathTemplate:
        self.expect("/")
        if self.text == "/":
            return PathTemplate(self.text, (), (), None)
        segments: list[Segment] = []
        variables: list[Variable] = []
        multi_at: int | None = None
        while True:
            if self.peek() == "{":
                var_pos = self.pos
                self.pos += 1
                path = self.field_path()
                start = len(segments)
                if self.peek() == "=":
                    self.pos += 1
                    while True:
                        if self.peek() == "{":
                            raise self.error("a variable must not contain another variable")
                        seg_pos = self.pos
                        segments.append(self.segment(in_variable=True))
                        if segments[-1].kind is SegmentKind.MULTI:
                            if multi_at is not None:
                                raise self.error("'**' may appear only once", seg_pos)
                            multi_at = seg_pos
                        if self.peek() != "/":
                            break
                        if multi_at is not None:
                            raise self.error(
                                "'**' must be the last segment (only a verb may follow)"
                            )
                        self.pos += 1
                else:
                    segments.append(Segment(SegmentKind.SINGLE))
                self.expect("}")
                if any(v.field_path == path for v in variables):
                    raise self.error(f"field {path!r} is bound twice", var_pos)
                inner = segments[start:]
                multi = len(inner) > 1 or inner[0].kind is SegmentKind.MULTI
                variables.append(Variable(path, start, len(segments), multi))
            else:
                seg_pos = self.pos
                segments.append(self.segment(in_variable=False))
                if segments[-1].kind is SegmentKind.MULTI:
                    if multi_at is not None:
                        raise self.error("'**' may appear only once", seg_pos)
                    multi_at = seg_pos
            if self.peek() == "/":
                if multi_at is not None:
                    raise self.error("'**' must be the last segment (only a verb may follow)")
                self.pos += 1
                continue
            break
        verb: str | None = None
        if self.peek() == ":":
            self.pos += 1
            verb = self.literal("verb")
        if self.pos != len(self.text):
            raise self.error(f"unexpected {self.peek()!r}")
        return PathTemplate(self.text, tuple(segments), tuple(variables), verb)


def parse_template(template: str) -> PathTemplate:
    """Parse and compile a path template; raise ``TemplateSyntaxError`` if it is invalid."""
    return _Parser(template).parse()
