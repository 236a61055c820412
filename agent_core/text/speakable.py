"""speakable(): shape LLM output so a TTS engine says what a person would say aloud.

English rules run for ``language`` "en*"; other languages only get the language-neutral
cleanup (markdown, emoji/pictographs, control characters, whitespace), since the number
and abbreviation words are English. Documented choices:

* Markdown is reduced to its words. Fenced code blocks are dropped; inline code keeps its
  content up to ``INLINE_CODE_MAX`` chars. Headings, list items, table rows and paragraph
  ends get a period (unless they end in punctuation) so the voice pauses between them.
* Clock times: with am/pm -> "three thirty P M", "three P M". Without am/pm, "H:00" with
  H in 1-12 (no leading zero) -> "three o'clock"; every other whole hour is 24-hour style:
  "15:00" -> "fifteen hundred", "09:00" -> "oh nine hundred". Minutes 01-09: "nine oh five".
* Dates (ISO, US m/d/yyyy, "Nov 22", "22nd of November") -> "November twenty-second,
  twenty twenty-six". Bare four-digit numbers are read as years only after a date word
  ("in 1961", "since", "by", "from ... to ...") or as decades ("1990s").
* Phone numbers read digit by digit in their written groups: "plus one, five five five, ...".
* "Dr." -> "Doctor", except "<Name> Dr." with no name after it -> "Drive". "St." before a
  capitalized word -> "Saint", otherwise "Street".
* After a number, lowercase "m" is meters, uppercase "M" is million.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from num2words import num2words

from agent_core.text.delivery_tags import strip_delivery_tags
from agent_core.text.markup import (
    INLINE_CODE_MAX,
    Rule,
    apply_rules,
    markdown_to_text,
    strip_code_blocks,
    strip_symbols,
)

__all__ = ["speakable", "INLINE_CODE_MAX"]


_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_NUM = r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?"  # "1,250.5" or "3.5"
_NB = r"(?<![\w.,])"  # a number token must not continue a word or another number


def _words(number: int, to: str = "cardinal") -> str:
    words: str = num2words(number, to=to)  # num2words carries no type information
    return words


def _digits(s: str) -> str:
    return " ".join(_DIGIT_WORDS[ord(c) - 48] for c in s if "0" <= c <= "9")


def _cardinal(s: str) -> str:
    s = s.replace(",", "")
    if (len(s) > 1 and s[0] == "0") or len(s) > 15:  # codes, ids: say each digit
        return _digits(s)
    return _words(int(s))


def _number(s: str) -> str:
    whole, _, frac = s.replace(",", "").partition(".")
    words = _cardinal(whole) if whole else "zero"
    return f"{words} point {_digits(frac)}" if frac else words


def _ordinal(s: str) -> str:
    s = s.replace(",", "")
    return _digits(s) if len(s) > 15 else _words(int(s), to="ordinal")


def _year(s: str) -> str:
    return _words(int(s), to="year")


_SENTENCE_FOLLOWS = re.compile(r"\s*$|\s+[A-Z]")


def _stop_if_end(m: re.Match[str]) -> str:
    """A rule that ate an abbreviation's final period gives it back at a sentence end."""
    ends = m.group(0).endswith(".") and _SENTENCE_FOLLOWS.match(m.string, m.end())
    return "." if ends else ""


# --- English: addresses, phone numbers, dates, times --------------------------------

_SEPARATOR_WORDS = {".": " dot ", "/": " slash ", "-": " dash ", "_": " underscore ",
                    "@": " at ", ":": " colon ", "+": " plus ", "~": " tilde ",
                    "%": " percent ", "=": " equals ", "&": " and "}
_SEPARATOR = re.compile(r"[./_@:+~%=&-]")
_EMAIL = re.compile(r"(?<![\w.+-])(?:mailto:)?([A-Za-z0-9._%+-]+)@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})(?![\w-])")
_URL_CHARS = r"[^\s<>\"'`()\[\]{}]"
_URL = re.compile(
    rf"(?<![\w@/.-])(?:(?:https?|ftp)://|www\.){_URL_CHARS}+"
    rf"|(?<![\w@/.-])(?:[A-Za-z0-9-]+\.)+(?:com|org|net|edu|gov|io|ai|dev|app|co|uk|de|fr|us|info|me|tv)"
    rf"(?:/{_URL_CHARS}*)?(?![\w-])",
    re.I,
)
_URL_SCHEME = re.compile(r"^(?:(?:https?|ftp)://)?(?:www\.)?", re.I)
_TRAILING_PUNCT = re.compile(r"[.,;:!?'\"]+$")
_IP = re.compile(r"(?<![\w.])[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?![\w]|\.[0-9])")
_PHONE = re.compile(
    r"(?<![\w+])\+[0-9]{1,3}(?:[ .-]\(?[0-9]{1,5}\)?){2,5}(?![\w-]|\.[0-9])"
    r"|(?<![\w+.-])(?:1[ .-])?(?:\([0-9]{3}\) ?|[0-9]{3}[ .-])[0-9]{3}[ .-][0-9]{4}(?![\w-]|\.[0-9])"
)
_NON_DIGIT = re.compile(r"[^0-9]+")


def _spell_address(s: str) -> str:
    return _SEPARATOR.sub(lambda m: _SEPARATOR_WORDS[m.group(0)], s)


def _say_email(m: re.Match[str]) -> str:
    return f"{_spell_address(m.group(1))} at {_spell_address(m.group(2))}"


def _say_url(m: re.Match[str]) -> str:
    url = m.group(0)
    tail = _TRAILING_PUNCT.search(url)
    trailing = tail.group(0) if tail else ""
    url = _URL_SCHEME.sub("", url[: len(url) - len(trailing)])
    url = url.split("?", 1)[0].split("#", 1)[0].rstrip("/")  # query strings are noise
    return _spell_address(url) + trailing


def _say_phone(m: re.Match[str]) -> str:
    s = m.group(0)
    if "(" not in s and "+" not in s and len(set(_NON_DIGIT.findall(s))) > 1:
        return s  # mixed separators ("555 123-4567"): probably not a phone number
    groups = [g for g in _NON_DIGIT.split(s) if g]
    return ("plus " if s.startswith("+") else "") + ", ".join(map(_digits, groups))


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_MONTH_NUMBER = {name.lower()[:3]: i + 1 for i, name in enumerate(_MONTHS)}
_MON = (r"(?P<mon>January|February|March|April|May|June|July|August|September|October|November"
        r"|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)")
_YEAR4 = r"(?P<y>[0-9]{4})"
_DATES = [  # each names its parts: y, m (number) or mon (name), d
    re.compile(rf"(?<![\w-]){_YEAR4}-(?P<m>[0-9]{{1,2}})-(?P<d>[0-9]{{1,2}})(?![\w-])"),  # ISO
    re.compile(rf"(?<![\w/])(?P<m>[0-9]{{1,2}})/(?P<d>[0-9]{{1,2}})/{_YEAR4}(?![\w/])"),  # US
    re.compile(rf"\b{_MON}\.?\s+(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?(?:,?\s+{_YEAR4})?(?![\w:]|[.,][0-9])"),
    re.compile(rf"(?:\bthe\s+)?{_NB}(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MON}\b\.?"
               rf"(?:,?\s+{_YEAR4})?(?![\w])"),
    re.compile(rf"\b{_MON}\.?,?\s+{_YEAR4}(?![\w]|[.,][0-9])"),  # "March 1961"
]


def _say_date(m: re.Match[str]) -> str:
    g = m.groupdict()
    month = int(g["m"]) if g.get("m") else _MONTH_NUMBER[g["mon"].lower()[:3]]
    day = int(g["d"]) if g.get("d") else None
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return m.group(0)
    out = _MONTHS[month - 1] + (f" {_ordinal(str(day))}" if day else "")
    if g.get("y"):
        out += (", " if day else " ") + _year(g["y"])
    return out


_AMPM = r"([AaPp])\.?\s?[Mm]\b\.?"
_CLOCK = re.compile(rf"(?<![\w:.])([0-9]{{1,2}}):([0-9]{{2}})(?![0-9]|:[0-9])(?:\s?{_AMPM})?")
_HOUR_AMPM = re.compile(rf"(?<![\w:.,])([0-9]{{1,2}})()\s?{_AMPM}")  # empty minutes group


def _say_clock(m: re.Match[str]) -> str:
    hh, mm, ampm = m.groups()
    h, mi = int(hh), int(mm or 0)
    if mi > 59 or h > (12 if ampm else 23) or (not mm and h == 0):
        return m.group(0)
    minutes = "" if not mi else f" oh {num2words(mi)}" if mi < 10 else f" {num2words(mi)}"
    if ampm:
        return f"{num2words(h or 12)}{minutes} {ampm.upper()} M{_stop_if_end(m)}"
    hour24 = "zero" if h == 0 else ("oh " if hh[0] == "0" else "") + num2words(h)
    if mi == 0:
        return f"{num2words(h)} o'clock" if 1 <= h <= 12 and hh[0] != "0" else f"{hour24} hundred"
    return hour24 + minutes


# --- English: abbreviations, money, units, plain numbers -----------------------------


def _keep_case(words: str) -> Callable[[re.Match[str]], str]:  # "E.g." -> "For example"
    return lambda m: (words[0].upper() + words[1:] if m.group(0)[0].isupper() else words)


_TITLES = {"Mrs": "Missus", "Mr": "Mister", "Ms": "Miz", "Prof": "Professor", "Mt": "Mount"}
_ABBREVIATIONS: list[Rule] = [
    (re.compile(r"\bDr\.(?=\s+[A-Z])"), "Doctor"),
    (re.compile(r"\b([A-Z][a-z]+\s+)Dr\."), lambda m: m.group(1) + "Drive" + _stop_if_end(m)),
    (re.compile(r"\bDr\."), "Doctor"),
    (re.compile(r"\bSt\.(?=\s+[A-Z])"), "Saint"),
    (re.compile(r"\bSt\."), lambda m: "Street" + _stop_if_end(m)),
    (re.compile(r"\b(Mrs|Mr|Ms|Prof|Mt)\."), lambda m: _TITLES[m.group(1)]),
    (re.compile(r"\b(Jr|Sr|Inc|Ltd|Corp)\.|\b[Ee]tc\b\.?"), lambda m: {
        "J": "Junior", "S": "Senior", "I": "Incorporated", "L": "Limited", "C": "Corporation",
    }.get(m.group(0)[0], "et cetera") + _stop_if_end(m)),
    (re.compile(r"(?<!\w)[Ee]\.\s?g\.(?!\w)"), _keep_case("for example")),
    (re.compile(r"(?<!\w)[Ii]\.\s?e\.(?!\w)"), _keep_case("that is")),
    (re.compile(r"\b[Vv]s\b\.?"), "versus"),
    (re.compile(r"\b[Aa]pprox\b\.?"), _keep_case("approximately")),
    (re.compile(r"\b[Cc]f\.(?=\s)"), _keep_case("compare")),
    (re.compile(r"(?<!\w)w/o(?!\w)"), "without"),
    (re.compile(r"(?<!\w)w/(?=\s)"), "with"),
    (re.compile(r"\b[Nn]o\.\s?(?=[0-9])|#\s?(?=[0-9])"), "number "),
    # "U.S.A." -> "U S A": spelled letters, and no stray periods that sound like stops
    (re.compile(r"\b(?:[A-Z]\.){2,}"),
     lambda m: " ".join(m.group(0).replace(".", "")) + ("." if m.end() == len(m.string.rstrip()) else "")),
]

_CURRENCY_SYMBOL = "$€£¥₹"
_CURRENCY_WORDS = {  # symbol: (one, many, one hundredth, many hundredths)
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", "", ""),
    "₹": ("rupee", "rupees", "paisa", "paise"),
}
_CODE_SYMBOL = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
_SCALES = {"k": "thousand", "K": "thousand", "m": "million", "M": "million", "b": "billion",
           "B": "billion", "bn": "billion", "T": "trillion", "tn": "trillion"}
_UNITS = {  # unit after a number: "singular" (plural adds s) or "singular|plural"
    "km/h": "kilometer per hour|kilometers per hour", "kph": "kilometer per hour|kilometers per hour",
    "mph": "mile per hour|miles per hour", "km": "kilometer", "cm": "centimeter", "mm": "millimeter",
    "m": "meter", "mi": "mile", "ft": "foot|feet", "kg": "kilogram", "mg": "milligram", "g": "gram",
    "lbs": "pound", "lb": "pound", "oz": "ounce", "ml": "milliliter", "mL": "milliliter", "L": "liter",
    "kWh": "kilowatt hour", "kW": "kilowatt", "TB": "terabyte", "GB": "gigabyte", "MB": "megabyte",
    "KB": "kilobyte", "GHz": "gigahertz|gigahertz", "MHz": "megahertz|megahertz",
    "kHz": "kilohertz|kilohertz", "Hz": "hertz|hertz", "ms": "millisecond", "sec": "second",
    "min": "minute", "mins": "minute", "hr": "hour", "hrs": "hour", "h": "hour",
    "°C": "degree Celsius|degrees Celsius", "°F": "degree Fahrenheit|degrees Fahrenheit", "°": "degree",
}
_UNIT_NAMES = "|".join(map(re.escape, sorted(_UNITS, key=len, reverse=True)))
_YEAR_WORDS = r"in|since|by|from|until|till|through|year|during|before|after|circa|around|between|and|to|of"


def _say_version(m: re.Match[str]) -> str:
    parts = (m.group(1) or m.group(2)).split(".")
    return ("version " if m.group(1) else "") + " point ".join(map(_cardinal, parts))


def _say_money(m: re.Match[str]) -> str:
    one, many, sub_one, sub_many = _CURRENCY_WORDS[m.group(1)]
    num = m.group(2)
    scale = m.group(3) or _SCALES.get(m.group(4) or "")
    if scale:
        return f"{_number(num)} {scale} {many}"
    whole, _, frac = num.replace(",", "").partition(".")
    if frac and (len(frac) > 2 or not sub_many):
        return f"{_number(num)} {many}"
    units, cents = int(whole), int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if units or not cents:
        parts.append(f"{_cardinal(whole)} {one if units == 1 else many}")
    if cents:
        parts.append(f"{num2words(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def _say_unit(m: re.Match[str]) -> str:
    one, _, many = _UNITS[m.group(2)].partition("|")
    return f"{_number(m.group(1))} {one if m.group(1) == '1' else (many or one + 's')}"


def _say_decade(m: re.Match[str]) -> str:
    digits = m.group(1)
    words = _year(digits) if len(digits) >= 3 else num2words(int(digits))
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


_C = _CURRENCY_SYMBOL
_NUMBER_RULES: list[Rule] = [  # order matters: specific shapes before plain numbers
    (re.compile(rf"~\s?(?=[{_C}]?[0-9])"), "about "),
    (re.compile(r"(?<![\w.])(?:[vV]([0-9]+(?:\.[0-9]+)*)|([0-9]+(?:\.[0-9]+){2,}))(?![\w]|\.[0-9])"),
     _say_version),  # v2, 1.2.3
    (re.compile(rf"{_NB}([{_C}]?(?:{_NUM}))\s?[-–]\s?(?=[{_C}]?[0-9])"), r"\1 to "),  # ranges
    (re.compile(rf"(?<![\w.,)\]])[-−](?=[{_C}]?[0-9])"), "minus "),
    (re.compile(r"\b(?:US(?=\$)|(USD|EUR|GBP|JPY|INR)\s?(?=[0-9]))"),  # "USD 5" -> "$5"
     lambda m: _CODE_SYMBOL.get(m.group(1) or "", "")),
    (re.compile(rf"{_NB}({_NUM})\s?(?:([{_C}])|(USD|EUR|GBP|JPY|INR)\b)"),  # "5 €" -> "€5"
     lambda m: (m.group(2) or _CODE_SYMBOL[m.group(3)]) + m.group(1)),
    (re.compile(rf"([{_C}])\s?({_NUM})(?:\s?(thousand|million|billion|trillion)\b|(bn|tn|[kKmMbBT])(?![\w]))?"),
     _say_money),
    (re.compile(rf"{_NB}({_NUM})\s?%"), lambda m: f"{_number(m.group(1))} percent"),
    (re.compile(rf"{_NB}({_NUM})\s?({_UNIT_NAMES})(?![\w/°])"), _say_unit),
    (re.compile(rf"{_NB}({_NUM})(bn|[kKMB])(?![\w])"), lambda m: f"{_number(m.group(1))} {_SCALES[m.group(2)]}"),
    (re.compile(rf"{_NB}({_NUM})x(?![\w])"), lambda m: f"{_number(m.group(1))} times"),
    (re.compile(rf"\b((?:{_YEAR_WORDS})\s+)((?:1[1-9]|20)[0-9]{{2}})(?![\w%]|[.,][0-9])", re.I),
     lambda m: m.group(1) + _year(m.group(2))),  # "in 1961"
    (re.compile(rf"{_NB}([0-9]{{3,4}})\s?(AD|BC|BCE|CE)\b"), lambda m: f"{_year(m.group(1))} {' '.join(m.group(2))}"),
    (re.compile(r"(?<![\w.,])'?([0-9]{0,2}[0-9]0)s\b"), _say_decade),  # 1990s, '80s
    (re.compile(r"(?<![\w.,])([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:st|nd|rd|th)\b"), lambda m: _ordinal(m.group(1))),
    (re.compile(rf"(?<![\w.])({_NUM})(?![\w]|\.[0-9])"), lambda m: _number(m.group(1))),
    (re.compile(r"(?<![\w.])\.([0-9]+)(?![\w.])"), lambda m: "point " + _digits(m.group(1))),  # .5
]
_SYMBOLS: list[Rule] = [
    (re.compile(r"\s*&\s*"), " and "),
    (re.compile(r"\s*×\s*"), " times "),
    (re.compile(r"±\s?"), "plus or minus "),
    (re.compile(r"(?<=\s)@(?=\s)"), "at"),
    (re.compile(r"°"), " degrees"),
    (re.compile(r"\s*\|\s*"), ", "),
    (re.compile(r"#"), ""),
]
_CLEANUP: list[Rule] = [
    (re.compile(r"\s+"), " "),
    (re.compile(r"\s+([.,!?;:…])"), r"\1"),
    (re.compile(r"[,;:]+(?=[.!?])"), ""),
    (re.compile(r"([.!?])\s+\.(?!\.)"), r"\1"),
    (re.compile(r",(?:\s*,)+"), ","),
    (re.compile(r"\(\s*\)|\[\s*\]"), ""),
    (re.compile(r"(?<=[^\W\d_]),(?=[^\W\d_])"), ", "),  # "one,two" -> "one, two"
    (re.compile(r"^[\s.,;:!?]+"), ""),
]
_ADDRESS_RULES: list[Rule] = [(_EMAIL, _say_email), (_URL, _say_url)]
_DIGIT_RULES: list[Rule] = [
    (_IP, lambda m: " dot ".join(map(_digits, m.group(0).split(".")))),
    (_PHONE, _say_phone),
    *((pattern, _say_date) for pattern in _DATES),
    (_CLOCK, _say_clock),
    (_HOUR_AMPM, _say_clock),
]
_HAS_DIGIT = re.compile(r"[0-9]")
_ADDRESS_HINT = re.compile(r"@|://|www\.|\w\.[A-Za-z]{2}")


def _english(text: str) -> str:
    if _ADDRESS_HINT.search(text):  # most sentences have no address: skip the costly scans
        text = apply_rules(_ADDRESS_RULES, text)
    has_digits = _HAS_DIGIT.search(text) is not None
    if has_digits:
        text = apply_rules(_DIGIT_RULES, text)
    text = apply_rules(_ABBREVIATIONS, text)
    if has_digits:
        text = apply_rules(_NUMBER_RULES, text)
    return apply_rules(_SYMBOLS, text)


def _speakable(text: str, language: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = strip_delivery_tags(strip_code_blocks(html.unescape(text)))
    text = markdown_to_text(strip_symbols(text))
    if language.lower().startswith("en"):
        text = _english(text)
    return apply_rules(_CLEANUP, text).strip()


def speakable(text: str, *, language: str = "en") -> str:
    """Return ``text`` as words a TTS engine should say; never raises (may return "")."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    try:
        return _speakable(text, language or "en")
    except Exception:  # a bad rule must never silence the bot: fall back to cleanup only
        try:
            return " ".join(strip_symbols(text).split())
        except Exception:
            return ""
