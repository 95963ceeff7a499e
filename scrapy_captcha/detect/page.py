"""One response as the detectors see it: decoded once, parsed lazily, forms indexed."""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any, Iterable, Mapping
from urllib.parse import urljoin, urlsplit

import lxml.etree
import lxml.html
from w3lib.encoding import html_to_unicode

from ..model import Form

#: A challenge page is small; past this the page is cut before parsing so a
#: hostile 100 MB body costs a bounded amount of work.
MAX_PARSE = 4 * 1024 * 1024

#: Inputs a person types into. A form that has them is a real form (login,
#: search, comment), not a gate whose only job is the captcha.
USER_INPUT_TYPES = frozenset(
    {"text", "password", "email", "search", "tel", "number", "url", "file", "date"}
)
CAPTCHA_FIELDS = frozenset(
    {"g-recaptcha-response", "h-captcha-response", "cf-turnstile-response", "frc-captcha-solution",
     "mtcaptcha-verifiedtoken"}
)


def _headers(headers: Any) -> dict[str, str]:
    """Lower-case header names, first value as str; accepts Scrapy Headers or a dict."""
    out: dict[str, str] = {}
    if not headers:
        return out
    items: Iterable[tuple[Any, Any]] = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in items:
        if isinstance(value, (list, tuple)):
            value = value[0] if value else b""
        if isinstance(name, bytes):
            name = name.decode("latin-1")
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        out[str(name).lower()] = str(value)
    return out


class Page:
    def __init__(self, body: bytes | str, *, url: str, status: int = 200, headers: Any = None):
        self.url = url
        self.status = int(status)
        self.headers = _headers(headers)
        self._body = body
        #: Why candidates were rejected, for --explain and DEBUG logs.
        self.notes: list[str] = []
        #: The lowered head of the body, as bytes (set by the marker scan).
        self.low = b""

    def note(self, text: str) -> None:
        self.notes.append(text)

    @cached_property
    def text(self) -> str:
        body = self._body
        if isinstance(body, str):
            return body
        _, text = html_to_unicode(self.headers.get("content-type"), body)
        return text

    @cached_property
    def json(self) -> Any:
        """The body as JSON when it is a JSON document (an API reply), else None."""
        head = self.text[:64].lstrip()
        if not head.startswith(("{", "[")):
            return None
        try:
            return json.loads(self.text[:MAX_PARSE])
        except ValueError:
            return None

    def by_id(self, element_id: str) -> lxml.html.HtmlElement | None:
        if self.root is None:
            return None
        hits = self.root.xpath("//*[@id=$id]", id=element_id)
        return hits[0] if hits else None

    @cached_property
    def root(self) -> lxml.html.HtmlElement | None:
        text = self.text[:MAX_PARSE]
        if not text.strip():
            return None
        try:
            parser = lxml.html.HTMLParser(recover=True, huge_tree=False, remove_comments=True)
            root = lxml.html.document_fromstring(text, parser=parser)
        except (lxml.etree.ParserError, ValueError, TypeError):
            return None
        return root

    @cached_property
    def base_url(self) -> str:
        root = self.root
        if root is not None:
            for base in root.iter("base"):
                href = (base.get("href") or "").strip()
                if href:
                    return urljoin(self.url, href)
        return self.url

    def absolute(self, href: str) -> str:
        return urljoin(self.base_url, href.strip())

    @cached_property
    def forms(self) -> list[lxml.html.HtmlElement]:
        return [] if self.root is None else list(self.root.iter("form"))

    @cached_property
    def title(self) -> str:
        if self.root is None:
            return ""
        for title in self.root.iter("title"):
            return " ".join((title.text_content() or "").split())
        return ""

    @cached_property
    def scripts(self) -> list[str]:
        """Inline script bodies."""
        if self.root is None:
            return []
        return [s.text for s in self.root.iter("script") if s.text and not s.get("src")]

    @cached_property
    def script_srcs(self) -> list[str]:
        if self.root is None:
            return []
        return [self.absolute(s.get("src")) for s in self.root.iter("script") if s.get("src")]

    def form_of(self, element: lxml.html.HtmlElement | None) -> lxml.html.HtmlElement | None:
        """The form an element sits in (or names with ``form=``)."""
        if element is None:
            return None
        form_id = element.get("form")
        if form_id and self.root is not None:
            for form in self.forms:
                if form.get("id") == form_id:
                    return form
        for ancestor in element.iterancestors("form"):
            return ancestor
        return None

    def describe_form(self, form: lxml.html.HtmlElement) -> Form:
        """The form as plain data: where it posts and what it sends besides the token."""
        fields: list[tuple[str, str]] = []
        submit_taken = False
        for el in form.iter("input", "select", "textarea", "button"):
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

    @staticmethod
    def has_user_inputs(form: lxml.html.HtmlElement, captcha_fields: tuple[str, ...] = ()) -> bool:
        for el in form.iter("input", "textarea"):
            if el.get("name") in CAPTCHA_FIELDS or el.get("name") in captcha_fields:
                continue
            if el.tag == "textarea":
                return True
            if (el.get("type") or "text").lower() in USER_INPUT_TYPES:
                return True
        return False

    def same_origin(self, url: str) -> bool:
        a, b = urlsplit(self.url), urlsplit(url)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)
