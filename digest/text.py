"""Text from feeds: sanitised HTML, plain text, repaired encodings, no contact details, and
the salary ranges stated in it ("$150,000 - $180,000", "USD 150k–180k", "£80-110k")."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import nh3

ALLOWED_TAGS = {
    "a", "p", "br", "ul", "ol", "li", "strong", "b", "em", "i", "u",
    "h3", "h4", "h5", "blockquote", "code", "pre",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
DROP_WITH_CONTENT = {
    "script",
    "style",
    "iframe",
    "object",
    "embed",
    "noscript",
    "template",
    "svg",
    "math",
    "head",
    "title",
}
HTML_CAP = 20_000
SUMMARY_CHARS = 400

_BLOCK = {
    "p",
    "div",
    "br",
    "li",
    "ul",
    "ol",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "tr",
    "blockquote",
    "pre",
    "section",
}
_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(?<![\w/])\+?\d[\d ()./-]{7,}\d(?![\w/])")


def absolute_url(value: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) URL, or None; relative links are resolved against ``base``."""
    if not value:
        return None
    value = value.strip().replace(" ", "%20")
    if any(c in value for c in "\r\n\t\0<>\"'`\\") or len(value) > 2048:
        return None
    if base:
        value = urljoin(base, value)
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return value


def sanitise_html(fragment: str, base_url: str | None = None) -> str:
    """Keep a small allow-list of tags; nothing executable, no images, absolute http(s) links only."""
    if not fragment:
        return ""

    def keep_attribute(tag: str, attribute: str, value: str) -> str | None:
        if tag == "a" and attribute == "href":
            return absolute_url(html.unescape(value), base_url)
        return value

    cleaned = nh3.clean(
        fragment,
        tags=ALLOWED_TAGS,
        clean_content_tags=DROP_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https"},
        attribute_filter=keep_attribute,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    cleaned = re.sub(r"(<br\s*/?>\s*){3,}", "<br><br>", cleaned)
    cleaned = re.sub(r"<p>\s*</p>|<li>\s*</li>", "", cleaned).strip()
    return cleaned[:HTML_CAP] if len(cleaned) <= HTML_CAP else _cut_html(cleaned)


def _cut_html(fragment: str) -> str:
    """Shorten sanitised HTML to about HTML_CAP, then re-sanitise to close open tags."""
    cut = fragment[:HTML_CAP].rsplit("<", 1)[0]
    return nh3.clean(cut + " …", tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROP_WITH_CONTENT:
            self._skip += 1
        elif tag == "li":
            self.parts.append("\n• ")
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in DROP_WITH_CONTENT:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(fragment: str) -> str:
    """Readable plain text from an HTML fragment: entities decoded, paragraphs kept."""
    if not fragment:
        return ""
    if "<" not in fragment:
        return tidy(html.unescape(fragment))
    parser = _TextExtractor()
    parser.feed(fragment)
    parser.close()
    return tidy("".join(parser.parts))


def tidy(text: str) -> str:
    """Collapse runs of spaces, keep at most one blank line, drop control characters."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text)
    text = re.sub(r"[ \t\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def one_line(text: str | None, limit: int = 300) -> str:
    """A single line of plain text (titles, names, locations): no CR/LF, no tags, no entities."""
    if not text:
        return ""
    if "<" in text or "&" in text:
        text = html_to_text(text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def summarise(text: str, limit: int = SUMMARY_CHARS) -> str:
    """The first ``limit`` characters of plain text, cut at a word."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0].rstrip(",.;:-") + "…"


def fix_mojibake(text: str) -> str:
    """Undo UTF-8 read as Latin-1 (Remote OK's ``ZÃ³calo``); leave correct text alone."""
    if not text or not _MOJIBAKE.search(text):
        return text
    for codec in ("latin-1", "cp1252"):
        try:
            return text.encode(codec).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
    return text


def strip_contact(text: str) -> str:
    """Remove email addresses and phone numbers (profiles keep neither)."""
    return _PHONE.sub("", _EMAIL.sub("", text)).strip(" ,;|-")


# Salary ranges stated in text.
_SYMBOLS = {"$": "USD", "£": "GBP", "€": "EUR"}
_CODES = ("USD", "GBP", "EUR", "CAD", "AUD", "CHF", "SEK", "NOK", "DKK", "PLN", "INR", "JPY", "SGD", "NZD")
_NUMBER = r"(\d{1,3}(?:[,.\s]\d{3})+|\d+(?:\.\d+)?)\s*([kK])?"
_CURRENCY = r"(?:(" + "|".join(_CODES) + r")\s?|([$£€])\s?)"
_RANGE = re.compile(
    _CURRENCY + _NUMBER + r"\s*(?:-|–|—|to)\s*" + _CURRENCY + r"?" + _NUMBER,
    re.IGNORECASE,
)
_SINGLE = re.compile(_CURRENCY + _NUMBER + r"(?!\s*(?:/|per)\s*(?:h|hr|hour|day))", re.IGNORECASE)
LOWEST, HIGHEST = 10_000, 5_000_000  # a yearly salary; hourly rates and tiny numbers are ignored


@dataclass(frozen=True)
class Salary:
    low: int
    high: int
    currency: str


def _amount(digits: str, k: str | None) -> int:
    value = float(re.sub(r"[,.\s](?=\d{3}\b)", "", digits))
    return int(value * 1000) if k else int(value)


def parse_salary(text: str, *, single: bool = False) -> Salary | None:
    """The first yearly salary range in ``text`` (or single figure, when ``single``), or None.

    Single figures are read only from fields that hold a salary: in a description
    "$20,000 signing bonus" is not a salary."""
    if not text:
        return None
    for match in _RANGE.finditer(text):
        code, symbol, low, low_k, _code2, _symbol2, high, high_k = match.groups()
        currency = (code or _SYMBOLS.get(symbol or "", "")).upper()
        low_value = _amount(low, low_k or high_k)
        high_value = _amount(high, high_k)
        if LOWEST <= low_value <= high_value <= HIGHEST:
            return Salary(low_value, high_value, currency)
    for match in _SINGLE.finditer(text) if single else ():
        code, symbol, value, k = match.groups()
        amount = _amount(value, k)
        if LOWEST <= amount <= HIGHEST:
            return Salary(amount, amount, (code or _SYMBOLS.get(symbol or "", "")).upper())
    return None
