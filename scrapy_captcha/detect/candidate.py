"""What a vendor module hands back: one widget or challenge, before the page-level verdict."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import lxml.etree
import lxml.html


@dataclass
class Candidate:
    kind: str
    sitekey: str | None
    element: lxml.html.HtmlElement | None = None
    invisible: bool = False
    enterprise: bool = False
    action: str | None = None
    data_s: str | None = None
    cdata: str | None = None
    chl_page_data: str | None = None
    rqdata: str | None = None
    api_domain: str | None = None
    response_fields: tuple[str, ...] = ()
    params: dict[str, str] = field(default_factory=dict)
    evidence: list[str] = field(default_factory=list)
    #: The vendor itself says the page is a challenge (an interstitial, a JSON
    #: captcha-required reply): blocking whatever the page looks like.
    blocking_reason: str | None = None


def merge(found: Iterable[Candidate]) -> list[Candidate]:
    """One candidate per (kind, sitekey): markers of one widget seen several ways combine."""
    merged: dict[tuple[str, str | None], Candidate] = {}
    for cand in found:
        first = merged.get((cand.kind, cand.sitekey))
        if first is None:
            merged[(cand.kind, cand.sitekey)] = cand
            continue
        if first.element is None:
            first.element = cand.element
        first.invisible = first.invisible or cand.invisible
        first.enterprise = first.enterprise or cand.enterprise
        for name in ("action", "data_s", "cdata", "chl_page_data", "rqdata", "api_domain", "blocking_reason"):
            if getattr(first, name) is None:
                setattr(first, name, getattr(cand, name))
        if cand.response_fields and cand.response_fields != first.response_fields:
            first.response_fields = tuple(dict.fromkeys(first.response_fields + cand.response_fields))
        for key, value in cand.params.items():
            first.params.setdefault(key, value)
        first.evidence.extend(cand.evidence)
    return list(merged.values())


def js_option(text: str, name: str) -> str | None:
    """``name: 'value'`` in a JS object literal (key quoted or not, either quote)."""
    match = re.search(r"""['"]?%s['"]?\s*:\s*(['"])(?P<v>[^'"\\]{1,2000})\1""" % re.escape(name), text)
    return match.group("v") if match else None


def classes(el: lxml.html.HtmlElement) -> set[str]:
    return set((el.get("class") or el.get("classname") or "").split())


def with_class(root: lxml.html.HtmlElement, *names: str, tags: tuple[str, ...] = ()) -> list[lxml.html.HtmlElement]:
    """Elements whose class (or JSX ``classname``) holds one of ``names``, or whose tag is in ``tags``.

    XPath narrows the search in C; walking every element from Python costs more
    than the rest of detection on a page with a large form.
    """
    wanted = set(names)
    return [el for el in _class_xpath(names, tags)(root)
            if isinstance(el.tag, str) and (el.tag in tags or classes(el) & wanted)]


@functools.cache
def _class_xpath(names: tuple[str, ...], tags: tuple[str, ...]) -> lxml.etree.XPath:
    # One substring test per attribute: "recaptcha" for g-recaptcha and ginput_recaptcha.
    # (commonprefix compares strings; here it finds the names' common suffix)
    common = os.path.commonprefix([n[::-1] for n in names])[::-1] if len(names) > 1 else names[0]  # noqa: RUF071
    needles = [common] if len(common) >= 6 else list(names)
    tests = [f"contains(@class, '{n}') or contains(@classname, '{n}')" for n in needles]
    tests += [f"self::{t}" for t in tags]
    return lxml.etree.XPath(f"//*[{' or '.join(tests)}]")
