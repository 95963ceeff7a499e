"""Image captchas: a picture of text, and a field to type it into.

Judged by what the form is for, not by names alone: big sites name the answer
field like a search box (``field-keywords``) and serve the picture from a URL
that does not say "captcha". The evidence, each worth points:

- the picture: its URL, id, class or alt says captcha / verification code;
- the answer field: its name, id, placeholder, aria-label or ``<label>``;
- the words in and just above the form ("Type the characters you see in this
  image", "Sicherheitscode", "验证码", ...);
- where the form goes (``/errors/validateCaptcha``, ``/sorry/...``);
- the page itself (a 403/429/503, a challenge title).

A picture beside a text field is a candidate only with enough of these, and
with at least one strong one (the picture, the field's name, or the words):
a product photo next to a search box is not a captcha.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

import lxml.html

from .candidate import Candidate
from .page import FORM_CONTEXT, Page

KINDS = ("image",)
MARKERS: tuple[bytes, ...] = ()  # found by scan.py: the bare word "captcha", or a form with a picture

_CAPTCHA_WORD = r"captcha|kaptcha|securimage|secur(?:e|ity)[_ -]?(?:code|image|img)|verif\w*[_ -]?(?:code|img|image)|" \
                r"v(?:eri)?code|checkcode|check_code|authcode|auth_code|seccode|randcode|validate[_-]?code|" \
                r"imagecode|image_code|yzm|yanzhengma|antispam|anti-spam"
_IMG_SIGNAL = re.compile(_CAPTCHA_WORD + r"|/sorry/image|getimage\.(?:php|aspx)|code\.(?:php|aspx|jsp)\b", re.I)
_FIELD_STRONG = re.compile(_CAPTCHA_WORD + r"|characters|zeichen|caract[eè]res|caracteres|символ|验证码|認証|인증",
                           re.I)
_FIELD_WEAK = re.compile(r"\bcode\b|\bcodigo\b|\bcódigo\b|\bcode[_-]|[_-]code\b|\bkod\b|код|\bword\b|\btext\b|"
                         r"\bletters\b|sicherheit|securit|verification|vérification|verificaci|prüf", re.I)
# Words that tie the text field to the picture.
_WORDS = re.compile(
    r"(?:type|enter|input|retype|re-type|copy)\s+(?:in\s+)?(?:the\s+)?(?:\w+\s+)?(?:characters|letters|symbols)|"
    r"(?:characters|letters|text|code|word|numbers|digits|symbols)\s+(?:you\s+see|below|above|shown|displayed|"
    r"(?:in|on|from)\s+(?:the|this)\s+(?:image|picture))|(?:shown|displayed|see)\s+(?:in|on|above|below)\s+"
    r"(?:the|this)\s+(?:image|picture)|not\s+a\s+robot|unusual\s+traffic|prove\s+you(?:'re|\s+are)\s+(?:a\s+)?human|"
    r"\bcaptcha\b|sicherheitsabfrage|zeichen\s+(?:ein|im\s+bild|aus\s+dem\s+bild)|caract[eè]res\s+(?:de|dans|en)\s+"
    r"l'image|caracteres\s+de\s+la\s+imagen|验证码|校验码|認証コード|画像の文字|введите\s+(?:код|символы)|"
    r"код\s+с\s+картинки|보안\s*문자|자동입력",  # noqa: RUF001 (Russian: the code from the picture)
    re.I,
)
# Words that fit a captcha but also a code sent by SMS or printed on a card.
_WEAK_WORDS = re.compile(r"security\s+code|verification\s+code|(?:enter|type)\s+(?:the\s+)?code|sicherheitscode|"
                         r"código\s+de\s+(?:seguridad|verificación)|code\s+de\s+(?:sécurité|vérification)", re.I)
_ACTION = re.compile(r"captcha|verif|validat|/sorry/|challenge|robot|human|antibot", re.I)
_NOT_THE_PICTURE = re.compile(r"refresh|reload|neu\s*laden|audio|logo|icon|spinner|loading|avatar|gravatar|pixel|"
                              r"\.svg(?:$|[?#])|^data:image/svg", re.I)
_ANSWER_TYPES = frozenset({"text", "tel", "number", ""})
# A code sent by SMS or an app, a login: never the answer to a picture.
_NOT_AN_ANSWER = re.compile(r"one-time-code|\botp\b|totp|\b2fa\b|\bmfa\b|\bsms\b|one.?time|username|email|"
                            r"current-password|new-password|\bsearch\b", re.I)
_TITLE_SIGNAL = re.compile(r"captcha|robot|human|unusual traffic|security check|just a moment|attention required|"
                           r"sicherheitsabfrage|验证|認証", re.I)
_TOKEN_FIELDS = {"g-recaptcha-response", "h-captcha-response", "cf-turnstile-response"}

# The byte scan's cheap question: might this stretch of markup be about reading a picture?
# ("captcha" itself is not among them: the scan knows where the word stands alone, see scan.py.)
_HINTS = (b"verif", b"characters", b"robot", b"human", b"letters", b"zeichen", b"sicherheit",
          b"caract", b"security", b"vcode", b"seccode", b"checkcode", "验证码".encode(), "校验码".encode(),
          "認証".encode(), "код".encode(), "символ".encode(), "보안".encode())
_MIN_SCORE = 3


def hinted(low: bytes) -> bool:
    return any(hint in low for hint in _HINTS)


def _attrs(el: lxml.html.HtmlElement, names: Iterable[str]) -> str:
    return " ".join(el.get(n) or "" for n in names)


def _label_text(form: lxml.html.HtmlElement, field: lxml.html.HtmlElement) -> str:
    field_id = field.get("id")
    texts = []
    if field_id:
        texts += [lab.text_content() for lab in form.iter("label") if lab.get("for") == field_id]
    texts += [lab.text_content() for lab in field.iterancestors("label")]
    return " ".join(texts)


def could_be_answer(el: lxml.html.HtmlElement) -> bool:
    """Could this field be where a picture's text is typed? (A login, an e-mail, a textarea: no.)"""
    return (el.tag == "input" and (el.get("type") or "").lower() in _ANSWER_TYPES and bool(el.get("name"))
            and el.get("name") not in _TOKEN_FIELDS
            and not _NOT_AN_ANSWER.search(_attrs(el, ("autocomplete", "name", "id", "inputmode"))))


def _answer_fields(form: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    return [el for el in form.iter("input") if could_be_answer(el)]


def find(page: Page) -> list[Candidate]:
    found = []
    signal = page.status in (403, 429, 503) or bool(page.title and _TITLE_SIGNAL.search(page.title))
    for start, end in page.form_spans:
        if not any(start - FORM_CONTEXT <= hit < end for hit in page.image_hits + page.hits):
            continue
        cand = _judge(page, start, end, signal)
        if cand is not None:
            found.append(cand)
    return found


def _judge(page: Page, start: int, end: int, page_signal: bool) -> Candidate | None:
    # The form on its own, with the markup just above it (where the picture often is).
    before = max(start - FORM_CONTEXT, 0)
    for _, previous_end in page.form_spans:
        if before < previous_end <= start:
            before = previous_end  # never reach back into the form before
    region = page.region_at(before)
    if region is not None:
        before = min(region.end, start)
    lt = page.low.find(b"<", before, start)
    before = start if lt == -1 else lt
    if page.hay.find(b"<img", before, end) == -1:
        return None  # no picture: nothing to read (and no parse needed to say so)
    root = page.parse_island(before, end, "form")
    if root is None:
        return None
    form = next(root.iter("form"), None)
    if form is None:
        return None
    fields = _answer_fields(form)
    if not fields:
        return None
    # Document order of what matters here (walking every element from Python costs too much).
    order = {el: i for i, el in enumerate(root.iter("form", "img", "input"))}
    form_at = order[form]
    pictures = [img for img in root.iter("img") if img.get("src") and not _NOT_THE_PICTURE.search(
        _attrs(img, ("src", "id", "class", "alt", "title")))]
    if not pictures:
        return None

    evidence: list[str] = []
    score = 0
    strong = False
    picture_scores = [(2 if _IMG_SIGNAL.search(_attrs(img, ("src", "id", "class", "alt", "title", "name"))) else 0,
                       order[img], img) for img in pictures]
    best_picture = max(picture_scores, key=lambda t: (t[0], -abs(t[1] - form_at)))
    if best_picture[0]:
        score += 2
        strong = True
        evidence.append("the picture's URL/id/alt says captcha")

    def field_score(el: lxml.html.HtmlElement) -> int:
        if _FIELD_STRONG.search(_attrs(el, ("name", "id", "class"))):
            return 3
        described = _attrs(el, ("placeholder", "aria-label", "title")) + " " + _label_text(form, el)
        if _FIELD_STRONG.search(described):
            return 2
        if _FIELD_WEAK.search(_attrs(el, ("name", "id", "placeholder", "aria-label", "title"))
                              + " " + _label_text(form, el)):
            return 1
        return 0

    scored = [(field_score(el), -abs(order[el] - best_picture[1]), el) for el in fields]
    field_points, _, field = max(scored, key=lambda t: (t[0], t[1]))
    if field_points >= 2:
        score += 2
        strong = True
        evidence.append(f"the field {field.get('name')!r} is named or labelled for it")
    elif field_points:
        score += 1
        evidence.append(f"the field {field.get('name')!r} asks for a code")
    elif len(fields) > 1:
        # Several plain text fields and none of them about the picture: a comment form with a photo.
        field = min(fields, key=lambda el: abs(order[el] - best_picture[1]))

    words = " ".join(" ".join(root.itertext()).split())
    said = _WORDS.search(words)
    if said:
        score += 2
        strong = True
        evidence.append(f"the form says {said.group()!r}")
    elif weak := _WEAK_WORDS.search(words):
        score += 1
        evidence.append(f"the form says {weak.group()!r}")
    if _ACTION.search(form.get("action") or ""):
        score += 1
        evidence.append(f"the form posts to {form.get('action')!r}")
    if page_signal:
        score += 1
        evidence.append("the page is a challenge (status or title)")
    if score < _MIN_SCORE or not strong:
        page.note(f"a picture beside a text field (score {score}): not an image captcha")
        return None

    src = best_picture[2].get("src")
    params = {"image_url": src if src.startswith("data:") else page.absolute(src)}
    inline = re.match(r"data:image/[\w.+-]+;base64,(.+)$", src.strip(), re.S)
    if inline:
        try:
            base64.b64decode(inline.group(1), validate=False)
            params["image_body"] = "".join(inline.group(1).split())
        except ValueError:
            pass
    return Candidate(
        kind="image", sitekey=None, element=field, response_fields=(field.get("name"),),
        params=params, evidence=[f"<img> beside input name={field.get('name')}"] + evidence,
    )
