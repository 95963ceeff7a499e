"""One response as the detectors see it.

Parsing a whole page costs more than the rest of detection together, and a
captcha lives in a few small places: a widget's tag, an inline script, the
form around a widget. So the page is never parsed whole. A byte scan finds
the offsets that hold a vendor marker (``hits``); the tags and scripts holding
them are cut out of the body and parsed together as one small document
(``root``), each marked with its offset; a widget's form is parsed on its own
when a widget is found (``form_of``). What the verdict needs about the rest of
the page (title, how many forms, whether an offset sits in a script or a
comment) is read from the bytes directly.
"""

from __future__ import annotations

import bisect
import html
import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html
from w3lib.encoding import (
    html_body_declared_encoding,
    html_to_unicode,
    http_content_type_encoding,
    read_bom,
    to_unicode,
)

from ..model import Form
from .fastfind import Haystack

#: A challenge page is small; past this the page is cut before scanning so a
#: hostile 100 MB body costs a bounded amount of work.
MAX_PARSE = 4 * 1024 * 1024
#: At most this many hits per marker are turned into islands (a hostile page
#: may repeat a marker a million times; the real widget is among the first).
MAX_HITS = 1000
#: A form with no end tag is cut here.
MAX_FORM = 256 * 1024
#: How much markup before a form belongs to it (an image captcha's picture and
#: its "type the characters below" often sit just above the form).
FORM_CONTEXT = 1024

#: Inputs a person types into. A form that has them is a real form (login,
#: search, comment), not a gate whose only job is the captcha.
USER_INPUT_TYPES = frozenset(
    {"text", "password", "email", "search", "tel", "number", "url", "file", "date"}
)
CAPTCHA_FIELDS = frozenset(
    {"g-recaptcha-response", "h-captcha-response", "cf-turnstile-response", "frc-captcha-solution",
     "mtcaptcha-verifiedtoken"}
)
#: Elements with no end tag (an island made of one gets no closing tag).
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                   "track", "wbr", "param", "keygen"})
_TAG_NAME = re.compile(rb"[a-z][a-z0-9:_-]{0,40}")
_TAG_END = frozenset(b" \t\n\r\f/>")
#: Marks an island's first tag with its byte offset in the page.
AT_ATTR = "data-scrapy-captcha-at"
_BY_ID = lxml.etree.XPath("//*[@id=$id]")
_FIRST_TAG = re.compile(rb"<([A-Za-z][A-Za-z0-9]*)")
_RAW_START = re.compile(rb"<(script|style|textarea|!--)")
_ID_ATTR = r"""\sid\s*=\s*(?:"%(id)s"|'%(id)s'|%(id)s[\s>/])"""
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _headers(headers: Any) -> dict[str, list[str]]:
    """Lower-case header names, every value as str; accepts Scrapy Headers or a dict."""
    out: dict[str, list[str]] = {}
    if not headers:
        return out
    items: Iterable[tuple[Any, Any]] = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        values = value if isinstance(value, (list, tuple)) else [value]
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        out.setdefault(str(name).lower(), []).extend(
            v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in values)
    return out


_PARSERS = threading.local()


def _parser() -> lxml.html.HTMLParser:
    """One parser per thread: making one costs more than parsing an island with it."""
    parser = getattr(_PARSERS, "parser", None)
    if parser is None:
        parser = _PARSERS.parser = lxml.html.HTMLParser(recover=True, huge_tree=False, remove_comments=True)
    return parser


class lazy:
    """``functools.cached_property`` without its lock (3.11 takes one per access; a Page is never shared)."""

    def __init__(self, fn: Any):
        self.fn = fn
        self.name = fn.__name__
        self.__doc__ = fn.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.fn(obj)
        return value


class Region(NamedTuple):
    """An element whose content is not markup (script, style, title, textarea) or a comment."""

    start: int  # the "<" of its start tag
    body: int  # just past the start tag's ">"
    end: int  # just past its end tag
    tag: bytes  # b"script", ..., or b"!--" for a comment


class Page:
    def __init__(self, body: bytes | str, *, url: str, status: int = 200, headers: Any = None,
                 low: bytes | None = None):
        if low is not None:
            self.__dict__["low"] = low  # already lowered by the caller's first look
        self.url = url
        self.status = int(status)
        self.raw_headers = headers
        #: Why candidates were rejected, for --explain and DEBUG logs.
        self.notes: list[str] = []
        #: Byte offsets (in ``raw``) of vendor markers; each one becomes an island.
        self.hits: list[int] = []
        #: Offsets of the word "captcha" outside any vendor's name.
        self.generic: list[int] = []
        #: Offsets that may belong to an image captcha (judged by image.py on their form).
        self.image_hits: list[int] = []
        self._body = body

    def note(self, text: str) -> None:
        self.notes.append(text)

    @lazy
    def header_values(self) -> dict[str, list[str]]:
        return _headers(self.raw_headers)

    @lazy
    def headers(self) -> dict[str, str]:
        """Lower-case names, first values."""
        return {name: values[0] if values else "" for name, values in self.header_values.items()}

    def may_have_header(self, names: Iterable[str]) -> bool:
        """Cheap: might one of these headers be present? (No conversion of the whole set.)"""
        raw = self.raw_headers
        if not raw:
            return False
        if hasattr(raw, "normkey"):  # Scrapy's Headers: case-insensitive lookups
            return any(name.encode() in raw for name in names)
        keys = raw.keys() if hasattr(raw, "keys") else (name for name, _ in raw)
        present = {(k.decode("latin-1") if isinstance(k, bytes) else str(k)).lower() for k in keys}
        return any(name in present for name in names)

    # ------------------------------------------------------------------ bytes

    @lazy
    def raw(self) -> bytes:
        """The body as bytes in an ASCII-compatible encoding (UTF-16/32 become UTF-8), cut at MAX_PARSE."""
        body = self._body
        if isinstance(body, str):
            return body[:MAX_PARSE].encode("utf-8", "surrogatepass")
        head = body[:MAX_PARSE]
        if head.startswith(_WIDE_BOMS) or head[:64].count(0) > 16:
            # UTF-16/32 hides ASCII markers behind NULs: work on a UTF-8 copy.
            _, text = html_to_unicode(self.headers.get("content-type"), head)
            self.__dict__["encoding"] = "utf-8"
            return text.encode("utf-8", "surrogatepass")
        return head

    @lazy
    def encoding(self) -> str:
        """How ``raw`` decodes: BOM, then the Content-Type header, then a <meta> declaration."""
        raw = self.raw
        if isinstance(self._body, str):
            return "utf-8"
        bom_encoding, bom = read_bom(raw)
        if bom_encoding and bom:
            return bom_encoding
        encoding = http_content_type_encoding(self.headers.get("content-type")) or html_body_declared_encoding(raw)
        if not encoding or encoding.startswith(("utf-16", "utf-32")):
            return "utf-8"  # a wide encoding with no NULs in the body is mislabelled
        return encoding

    @lazy
    def low(self) -> bytes:
        """The body lowered (ASCII only, so offsets match ``raw``)."""
        return self.raw.lower()

    @lazy
    def hay(self) -> Haystack:
        """``low``, for fast searching."""
        return Haystack(self.low)

    @lazy
    def raw_hay(self) -> Haystack:
        """``raw``, for fast case-sensitive searching (no lowering needed)."""
        return Haystack(self.raw)

    @lazy
    def upper_case_tags(self) -> bool:
        """Does the page write its tags in upper case (``<HTML><BODY>``)? Its first tag says."""
        match = _FIRST_TAG.search(self.raw, 0, 4096)
        return match is not None and match.group(1).isupper()

    def _tags(self, name: bytes, limit: int) -> list[int]:
        """Offsets of ``<name`` start tags, in the case the page writes its tags in."""
        raw, n = self.raw, len(self.raw)
        size = len(name) + 1
        found = self.raw_hay.find_all(b"<" + name, limit)
        if self.upper_case_tags:
            # A page that opens in upper case may still write some tags in lower case.
            found = sorted(set(found + self.raw_hay.find_all(b"<" + name.upper(), limit)))
        return [p for p in found if p + size >= n or raw[p + size] in _TAG_END][:limit]

    def _end_tag(self, start: int, name: bytes) -> bytes:
        """``</name`` in the case of the start tag at ``start``."""
        return b"</" + (name.upper() if self.raw[start + 1:start + 2].isupper() else name)

    def decode(self, data: bytes) -> str:
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        return to_unicode(data, self.encoding)

    @lazy
    def text(self) -> str:
        """The whole body as text. Only for small documents (JSON replies, tests)."""
        return self.decode(self.raw)

    @lazy
    def json(self) -> Any:
        """The body as JSON when it is a JSON document (an API reply), else None."""
        if not self.raw[:64].lstrip().startswith((b"{", b"[")):
            return None
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    # -------------------------------------------------------------- structure

    # Where a marker sits (in a script? a comment? a form?) is answered locally: the
    # nearest start tag of each kind before it, and where that element ends. The
    # start tags come from one fast pass per kind; nothing walks the whole page.

    @lazy
    def _starts(self) -> dict[bytes, list[int]]:
        """Offsets of the start tags of scripts, styles, textareas and comments (one pass)."""
        low, n = self.low, len(self.low)
        starts: dict[bytes, list[int]] = {b"script": [], b"style": [], b"textarea": [], b"!--": []}
        for match in _RAW_START.finditer(low):
            tag = match.group(1)
            end = match.end()
            if tag == b"!--" or end >= n or low[end] in _TAG_END:
                starts[tag].append(match.start())
        return starts

    def _region(self, tag: bytes, start: int) -> Region:
        """The element (or comment) whose start tag is at ``start``: its content ends at the first end tag."""
        low, n, find = self.low, len(self.low), self.hay.find
        if tag == b"!--":
            close = find(b"-->", start + 4)
            return Region(start, start + 4, n if close == -1 else close + 3, tag)
        gt = low.find(b">", start)
        body = n if gt == -1 else gt + 1
        close = find(b"</" + tag, body)
        gt = -1 if close == -1 else low.find(b">", close)
        return Region(start, body, n if gt == -1 else gt + 1, tag)

    @lazy
    def _regions(self) -> dict[bytes, tuple[list[int], list[Region]]]:
        """Per kind, its elements in order, disjoint: a start tag inside an element's own text
        (a "<script" in a script) is that element's text. One forward pass per kind, so a page of
        unclosed starts costs one search to its end, not one per start."""
        regions: dict[bytes, tuple[list[int], list[Region]]] = {}
        for tag, starts in self._starts.items():
            found: list[Region] = []
            end = -1
            for start in starts:
                if start < end:
                    continue
                region = self._region(tag, start)
                found.append(region)
                end = region.end
            regions[tag] = ([r.start for r in found], found)
        return regions

    def region_at(self, pos: int) -> Region | None:
        """The script, style, title, textarea or comment that holds ``pos`` (its start tag included)."""
        found: Region | None = None
        for offsets, regions in self._regions.values():
            k = bisect.bisect_right(offsets, pos) - 1
            if k >= 0 and regions[k].end > pos and (found is None or regions[k].start < found.start):
                found = regions[k]
        region = self._title_region
        if region is not None and region.start <= pos < region.end and (found is None or region.start < found.start):
            found = region
        return found

    @lazy
    def _title_region(self) -> Region | None:
        pos = self._title_start
        if pos == -1:
            return None
        gt = self.low.find(b">", pos)
        body = len(self.low) if gt == -1 else gt + 1
        close = self._title_end(body)
        gt = -1 if close == -1 else self.low.find(b">", close)
        return Region(pos, body, len(self.low) if gt == -1 else gt + 1, b"title")

    @lazy
    def form_spans(self) -> list[tuple[int, int]]:
        """(start, end) of every <form> element outside scripts and comments; forms do not nest."""
        low, n, find = self.low, len(self.low), self.hay.find
        tags = [p for p in self.form_tags if self.region_at(p) is None]
        spans = []
        for i, pos in enumerate(tags):
            limit = min(n, pos + MAX_FORM)
            if i + 1 < len(tags):
                limit = min(limit, tags[i + 1])
            close = find(b"</form", pos + 5, limit)
            if close == -1:
                spans.append((pos, limit))
            else:
                gt = low.find(b">", close)
                spans.append((pos, n if gt == -1 else gt + 1))
        return spans

    @lazy
    def form_tags(self) -> list[int]:
        """Offsets of every ``<form`` start tag in the bytes, wherever it is (fast passes, no structure).

        What "the page's only form" counts: form markup in a script template or
        a comment counts too, so such a page is never taken for a one-form gate.
        Tags are matched in lower case, and in upper case too on a page that opens in upper case.
        """
        return self._tags(b"form", MAX_HITS)

    @property
    def form_count(self) -> int:
        return len(self.form_tags)

    @property
    def has_one_form(self) -> bool:
        """``form_count == 1``, answered by looking no further than the second form tag."""
        return len(self._first_form_tags) == 1

    @lazy
    def _first_form_tags(self) -> list[int]:
        if "form_tags" in self.__dict__:
            return self.form_tags[:2]
        return self._tags(b"form", 2)

    def form_span_at(self, pos: int) -> tuple[int, int] | None:
        spans = self.form_spans
        k = bisect.bisect_right(spans, (pos, len(self.low) + 1)) - 1
        if k >= 0 and spans[k][1] > pos:
            return spans[k]
        return None

    def tag_at(self, pos: int) -> tuple[int, int, str] | None:
        """(start, end, name) of the start tag that holds ``pos`` in an attribute, if any."""
        low = self.low
        lt = low.rfind(b"<", max(0, pos - 8192), pos + 1)
        if lt == -1 or low.rfind(b">", lt, pos) != -1:
            return None
        name = _TAG_NAME.match(low, lt + 1)
        if name is None:
            return None  # an end tag, a doctype, text like "a < b"
        gt = low.find(b">", pos)
        return lt, (len(low) if gt == -1 else gt + 1), name.group().decode("ascii")

    def island_at(self, pos: int) -> tuple[int, int, str | None] | None:
        """The part of the page a hit at ``pos`` lives in: (start, end, tag to close it with).

        A script (its src or its code), or the start tag holding the marker. The
        form around a widget is parsed only for a widget found (``form_of``).
        """
        region = self.region_at(pos)
        if region is not None:
            if region.tag == b"script":
                return region.start, region.end, None
            if pos < region.body:
                return region.start, region.body, region.tag.decode()  # a raw element's attributes
            return None  # text of a style, title, textarea or comment
        tag = self.tag_at(pos)
        if tag is not None:
            start, end, name = tag
            return start, end, None if name in _VOID else name
        return None

    def _island_bytes(self, start: int, end: int, close: str | None) -> bytes:
        """The island's bytes, its first tag marked with its offset in the page (for ``form_of``)."""
        name = _TAG_NAME.match(self.low, start + 1)
        if name is None:
            return self.raw[start:end] + (f"</{close}>".encode() if close else b"")
        cut = name.end()
        return (self.raw[start:cut] + b' %s="%d"' % (AT_ATTR.encode(), start) + self.raw[cut:end]
                + (f"</{close}>".encode() if close else b""))

    # ------------------------------------------------------------- head facts

    @lazy
    def _title_start(self) -> int:
        """The first ``<title`` tag (``<TITLE`` on a page written in upper case)."""
        found = self._tags(b"title", 1)
        return found[0] if found else -1

    def _title_end(self, body: int, within: int | None = None) -> int:
        """Where the title's text ends: its end tag (in the page's case), or -1 (looking ``within`` bytes)."""
        stop = None if within is None else body + within
        return self.raw_hay.find(self._end_tag(self._title_start, b"title"), body, stop)

    @lazy
    def title(self) -> str:
        pos = self._title_start
        if pos == -1:
            return ""
        start = self.raw.find(b">", pos)
        if start == -1:
            return ""
        end = self._title_end(start, 2048)
        data = self.raw[start + 1:(start + 1 + 2048) if end == -1 else min(end, start + 1 + 2048)]
        text = data.decode("ascii") if data.isascii() else self.decode(data)
        return " ".join((html.unescape(text) if "&" in text else text).split())

    @lazy
    def base_url(self) -> str:
        """The document's base URL: the first <base href> in the head (where HTML puts it), else the URL."""
        low, find = self.low, self.hay.find
        body = self._tags(b"body", 1)
        stop = body[0] if body else None
        pos = find(b"<base", 0, stop)
        while pos != -1:
            if self.region_at(pos) is None:
                tag = self.raw[pos:low.find(b">", pos) + 1 or len(low)]
                match = re.search(rb"""\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", tag, re.I)
                if match:
                    href = self.decode(next(g for g in match.groups() if g is not None)).strip()
                    if href:
                        return urljoin(self.url, html.unescape(href))
            pos = find(b"<base", pos + 5, stop)
        return self.url

    def absolute(self, href: str) -> str:
        href = href.strip()
        if href[:5].lower() in ("data:", "javas"):
            return href  # inline content (maybe 100 KB of it): nothing to resolve
        return urljoin(self.base_url, href)

    # ---------------------------------------------------------------- islands

    @lazy
    def islands(self) -> list[tuple[int, int, str | None]]:
        """The page's parts around each hit, sorted, without overlaps."""
        spans = {span for pos in self.hits if (span := self.island_at(pos)) is not None}
        kept: list[tuple[int, int, str | None]] = []
        for start, end, close in sorted(spans, key=lambda s: (s[0], -s[1])):
            if kept and start < kept[-1][1]:
                if end > kept[-1][1]:
                    kept[-1] = (kept[-1][0], end, kept[-1][2])
                continue  # inside an island already taken
            kept.append((start, end, close))
        return kept

    @lazy
    def root(self) -> lxml.html.HtmlElement | None:
        """The islands parsed as one document."""
        return self._parse([self._island_bytes(*island) for island in self.islands])

    def _parse(self, parts: list[bytes]) -> lxml.html.HtmlElement | None:
        if not parts:
            return None
        text = self.decode(b"<html><head></head><body>" + b"\n".join(parts) + b"</body></html>")
        try:
            return lxml.html.document_fromstring(text, parser=_parser())
        except (lxml.etree.ParserError, ValueError, TypeError):
            return None

    def parse_island(self, start: int, end: int, close: str | None = None) -> lxml.html.HtmlElement | None:
        """One part of the page parsed on its own (a render target, a form with its context)."""
        return self._parse([self._island_bytes(start, end, close)])

    def form_at(self, start: int) -> lxml.html.HtmlElement | None:
        """The form whose start tag is at ``start``, parsed on its own (once)."""
        cache = self.__dict__.setdefault("_form_cache", {})
        if start not in cache:
            span = self.form_span_at(start)
            root = None if span is None else self.parse_island(span[0], span[1], "form")
            cache[start] = None if root is None else next(root.iter("form"), None)
        return cache[start]

    def by_id(self, element_id: str) -> lxml.html.HtmlElement | None:
        """The element with this id, found in the islands or else anywhere in the page."""
        if self.root is not None:
            hits = _BY_ID(self.root, id=element_id)
            if hits:
                return hits[0]
        if not element_id or len(element_id) > 200:
            return None
        match = re.search((_ID_ATTR % {"id": re.escape(element_id)}).encode(), self.raw)
        if match is None:
            return None
        island = self.island_at(match.start() + 1)
        if island is None:
            return None
        root = self.parse_island(*island)
        if root is None:
            return None
        hits = _BY_ID(root, id=element_id)
        return hits[0] if hits else None

    @lazy
    def forms(self) -> list[lxml.html.HtmlElement]:
        """Every form that holds a hit."""
        hits, found = self.hits, []
        for start, end in self.form_spans:
            k = bisect.bisect_left(hits, start)
            if k < len(hits) and hits[k] < end:
                form = self.form_at(start)
                if form is not None:
                    found.append(form)
        return found

    @lazy
    def only_form(self) -> lxml.html.HtmlElement | None:
        """The page's form when it has exactly one."""
        if not self.has_one_form:
            return None
        start, end = self._only_form_span
        root = self.parse_island(start, end, "form")
        return None if root is None else next(root.iter("form"), None)

    def only_form_head(self, size: int | None) -> lxml.html.HtmlElement | None:
        """The page's only form, or its first ``size`` bytes (None: all of it)."""
        if not self.has_one_form:
            return None
        start, end = self._only_form_span
        if size is None or end - start <= size:
            return self.only_form
        # Cut after a tag's end: a tag cut in two would parse as a field of its own.
        cut = self.raw.rfind(b">", start, start + size) + 1
        root = self.parse_island(start, cut if cut > start else start + size, "form")
        return None if root is None else next(root.iter("form"), None)

    @lazy
    def _only_form_span(self) -> tuple[int, int]:
        start = self._first_form_tags[0]
        # Read from the bytes alone, so the quick verdict and a full detect() see the same form.
        # Forms do not nest: a form with one tag on the page ends at its end tag.
        end = self.raw_hay.find(self._end_tag(start, b"form"), start + 5, start + MAX_FORM)
        return start, (min(len(self.raw), start + MAX_FORM) if end == -1 else end + 7)

    @lazy
    def scripts(self) -> list[str]:
        """Inline script bodies among the islands."""
        if self.root is None:
            return []
        return [s.text for s in self.root.iter("script") if s.text and not s.get("src")]

    @lazy
    def script_srcs(self) -> list[str]:
        if self.root is None:
            return []
        return [self.absolute(s.get("src")) for s in self.root.iter("script") if s.get("src")]

    def form_of(self, element: lxml.html.HtmlElement | None) -> lxml.html.HtmlElement | None:
        """The form an element sits in (or names with ``form=``)."""
        if element is None:
            return None
        form_id = element.get("form")
        if form_id:
            named = self.by_id(form_id)
            if named is not None and named.tag == "form":
                at = named.get(AT_ATTR)
                whole = self.form_at(int(at)) if at is not None and at.isdigit() else None
                return named if whole is None else whole  # the form with its content, not its start tag
        for ancestor in element.iterancestors("form"):
            return ancestor
        # An island's own tag: its offset says which form of the page holds it.
        for el in (element, *element.iterancestors()):
            at = el.get(AT_ATTR)
            if at is not None and at.isdigit():
                span = self.form_span_at(int(at))
                return None if span is None else self.form_at(span[0])
        return None

    def describe_form(self, form: lxml.html.HtmlElement) -> Form:
        """The form as plain data: where it posts and what it sends besides the token."""
        fields: list[tuple[str, str]] = []
        submit_taken = False
        for el in list(form.iter("input", "select", "textarea", "button")) + self._associated(form):
            name = el.get("name")
            if not name or name in CAPTCHA_FIELDS or el.get("disabled") is not None:
                continue
            tag = el.tag
            kind = (el.get("type") or ("submit" if tag == "button" else "text")).lower()
            if kind in ("submit", "image"):
                # Like a browser: only the button that submits is sent; take the first.
                if submit_taken:
                    continue
                submit_taken = True
                fields.append((name, el.get("value") or ""))
            elif kind in ("checkbox", "radio"):
                if el.get("checked") is not None:
                    fields.append((name, el.get("value") or "on"))
            elif kind in ("file", "reset", "button"):
                continue
            elif tag == "select":
                chosen = [o for o in el.iter("option") if o.get("selected") is not None]
                options = chosen or list(el.iter("option"))[:1]
                for option in options:
                    value = option.get("value")
                    fields.append((name, value if value is not None else option.text_content()))
            elif tag == "textarea":
                fields.append((name, el.text or ""))
            else:
                fields.append((name, el.get("value") or ""))
        action = form.get("action")
        method = (form.get("method") or "GET").upper()
        return Form(
            action=self.absolute(action) if action and action.strip() else self.url,
            method=method if method in ("GET", "POST") else "GET",
            fields=tuple(fields),
        )

    def _associated(self, form: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
        """Fields outside the form that belong to it through ``form="<its id>"``."""
        form_id = form.get("id")
        if not form_id or len(form_id) > 200:
            return []
        quoted = form_id.lower().encode("utf-8", "ignore")
        if len(self.hay.find_all(b'"' + quoted + b'"', 2) + self.hay.find_all(b"'" + quoted + b"'", 2)) < 2:
            return []  # the id is written once: in the form's own tag
        found = []
        # ([^>] bounded: unclosed tags would make every start rescan the rest of the page.)
        pattern = rb"""<(?:input|select|textarea|button)\b[^>]{0,2048}\sform\s*=\s*(?:"%s"|'%s'|%s[\s/>])"""
        quoted = re.escape(form_id.encode())
        for match in re.finditer(pattern % (quoted, quoted, quoted), self.raw, re.I):
            if self.region_at(match.start()) is not None:
                continue
            tag = self.tag_at(match.start() + 1)
            if tag is None:
                continue
            root = self.parse_island(tag[0], tag[1], None if tag[2] in _VOID else tag[2])
            body = None if root is None else root.find("body")
            if body is not None and len(body):
                found.append(body[0])
            if len(found) >= 200:
                break
        return found

    @staticmethod
    def user_input_fields(form: lxml.html.HtmlElement,
                          captcha_fields: tuple[str, ...] = ()) -> list[lxml.html.HtmlElement]:
        """The fields a person fills in, captcha fields aside."""
        found = []
        for el in form.iter("input", "textarea"):
            name = el.get("name") or ""
            if name in CAPTCHA_FIELDS or name in captcha_fields:
                continue
            if el.tag == "textarea" or (el.get("type") or "text").lower() in USER_INPUT_TYPES:
                found.append(el)
        return found

    @classmethod
    def user_inputs(cls, form: lxml.html.HtmlElement, captcha_fields: tuple[str, ...] = ()) -> list[str]:
        """Names (or "" when unnamed) of the fields a person fills in, captcha fields aside."""
        return [el.get("name") or "" for el in cls.user_input_fields(form, captcha_fields)]

    @classmethod
    def has_user_inputs(cls, form: lxml.html.HtmlElement, captcha_fields: tuple[str, ...] = ()) -> bool:
        return bool(cls.user_inputs(form, captcha_fields))

    def same_origin(self, url: str) -> bool:
        a, b = urlsplit(self.url), urlsplit(url)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
