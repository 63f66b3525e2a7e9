"""Language identification: name any language, then tell the served ones apart.

Two detectors, each for what it does well:

- CLD2 (`pycld2`, Apache-2.0, 0.6 MiB resident) names about 80 languages and says when its
  verdict is reliable. It decides only whether a text is in a language newsmt does not serve:
  a text mostly in a script no served language uses (Han, Arabic, Greek, ...), or a reliable
  verdict naming an unserved language for most of a text of at least `NAME_MIN_LETTERS`
  letters. Below that, short Latin and Cyrillic texts are left to the served detector: CLD2
  named "Radio Habana Cuba" Malay, and a short headline is better translated than refused.
- lingua's high-accuracy models of the served languages (about 90 MiB) choose among en, ru
  and es, as before; they also judge model outputs for the quality signals (`detect`).

Measured on this repository's English, Spanish and Russian prose (docs, seeds, demo corpora;
603 sentences of 30 letters or more): no sentence named as another language. lingua's own
low-accuracy mode over every language, the other cheap option, named "Reuters reports that the
minister met the Kremlin." German (0.98) and a 60-letter Spanish sentence Shona.
"""

from __future__ import annotations

import functools
import threading
import unicodedata
from dataclasses import dataclass

import pycld2
from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

from newsmt.core import languages
from newsmt.core.errors import InvalidArgument

_LINGUA = {
    Language.ENGLISH: languages.ENGLISH,
    Language.RUSSIAN: languages.RUSSIAN,
    Language.SPANISH: languages.SPANISH,
}

#: A text needs this many letters before an unserved Latin or Cyrillic language is named.
NAME_MIN_LETTERS = 20
#: ... and the named language must cover this share of it (CLD2's percent).
NAME_MIN_PERCENT = 50
#: A language lingua cannot confirm is named only in a text of this many letters.
UNCONFIRMED_MIN_LETTERS = 100
#: The scripts the served languages are written in: Latin (en, es), Cyrillic (ru).
_SERVED_SCRIPTS = ("LATIN", "CYRILLIC")


@dataclass(frozen=True)
class Identified:
    """A text's language: a served code, or another language's ISO 639-1 code (as CLD2 names
    it: "de", "zh", "zh-Hant") with its English name."""

    code: str
    confidence: float
    #: "German", "Chinese": for messages; the served languages' names too.
    name: str

    @property
    def served(self) -> bool:
        return self.code in languages.SUPPORTED


#: Nothing to go on (empty, digits, punctuation).
UNKNOWN = Identified("", 0.0, "")


def not_served(field: str, found: Identified) -> InvalidArgument:
    """The error for a text in a language no route reads, naming it and the served ones."""
    served = ", ".join(f"{languages.NAMES[c]} ({c})" for c in languages.SUPPORTED)
    return InvalidArgument.field(
        field,
        f"the text is in {found.name} ({found.code}, confidence {found.confidence:.2f}); "
        f"newsmt translates and summarizes {served}",
    )


class LanguageDetection:
    """Names the language of a text (`identify`), and detects en, ru or es with a confidence
    in 0..1 (`detect`). Thread-safe; load once per process."""

    def __init__(self) -> None:
        self._detector: LanguageDetector = (
            LanguageDetectorBuilder.from_languages(*_LINGUA)
            .with_preloaded_language_models()
            .build()
        )
        self._lock = threading.Lock()
        #: lingua's low-accuracy detectors of the served languages and one more, by its code
        #: (made on first use; their models, a few hundred KiB a language, load once).
        self._confirmers: dict[str, LanguageDetector | None] = {}

    def _confirmed(self, text: str, code: str, letters: int) -> bool:
        """Whether lingua, choosing between the served languages and `code` (trigram models),
        agrees that `text` is in `code`. CLD2 confuses close languages on short texts (a
        29-letter Russian sentence, reliably Macedonian to it; a 21-letter one Abkhazian). A
        language lingua does not know is taken on CLD2's word only for a text of at least
        `UNCONFIRMED_MIN_LETTERS` letters."""
        with self._lock:
            if code not in self._confirmers:
                self._confirmers[code] = _confirmer(code)
            detector = self._confirmers[code]
        if detector is None:
            return letters >= UNCONFIRMED_MIN_LETTERS
        values = detector.compute_language_confidence_values(text)
        return bool(values) and _iso(values[0].language) == code

    def detect(self, text: str) -> tuple[str, float]:
        """The served language `text` is most like: (code, confidence), or ("", 0.0) when the
        text has nothing to go on. Never another language: the quality signals judge an
        output against its target with it."""
        if not text.strip():
            return ("", 0.0)
        values = self._detector.compute_language_confidence_values(text)
        if not values or values[0].value <= 0.0:
            return ("", 0.0)
        best = values[0]
        return (_LINGUA[best.language], float(best.value))

    def identify(self, text: str) -> Identified:
        """The language of `text`: an unserved one where that is certain enough (see the
        module docstring), else the served one it is most like (`detect`)."""
        letters = sum(map(str.isalpha, text))
        if not letters:
            return UNKNOWN
        other = _cld2(text)
        if _foreign_letters(text) * 2 > letters:
            # Mostly a script no served language uses: unserved, whatever CLD2 calls it (its
            # guess, reliable or not, names it; a served guess cannot be right here).
            if other is not None and not other[0].served:
                return other[0]
            return Identified("und", 1.0, "a language written in a script newsmt does not read")
        if other is not None and other[1] and not other[0].served:
            claim = other[0]
            enough = letters >= NAME_MIN_LETTERS and claim.confidence * 100 >= NAME_MIN_PERCENT
            if enough and self._confirmed(text, claim.code, letters):
                return claim
        code, confidence = self.detect(text)
        return Identified(code, confidence, languages.NAMES.get(code, "")) if code else UNKNOWN


@functools.lru_cache(maxsize=4096)
def _served_script(char: str) -> bool:
    return unicodedata.name(char, "").startswith(_SERVED_SCRIPTS)


def _foreign_letters(text: str) -> int:
    """The letters of `text` in a script no served language uses."""
    return sum(1 for char in text if char.isalpha() and not _served_script(char))


def _confirmer(code: str) -> LanguageDetector | None:
    try:
        other = Language.from_iso_code_639_1(IsoCode639_1.from_str(code))
    except ValueError:
        return None
    return LanguageDetectorBuilder.from_languages(*_LINGUA, other).with_low_accuracy_mode().build()


def _iso(language: Language) -> str:
    return language.iso_code_639_1.name.lower()


#: ISO 639-1 codes that CLD2 still writes in their withdrawn forms.
_CLD2_CODES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv"}


def _cld2(text: str) -> tuple[Identified, bool] | None:
    """CLD2's verdict on `text` (its top language and whether it calls it reliable); None
    where it has none or cannot read the text."""
    try:
        reliable, _, found = pycld2.detect(text, isPlainText=True)
    except pycld2.error:  # input CLD2 cannot read (it checks its own UTF-8): no verdict
        return None
    name, code, percent, _ = found[0]
    if code in ("un", "xxx", "") or percent <= 0:
        return None
    code = _CLD2_CODES.get(code, code)
    if languages.normalize(code) in languages.SUPPORTED:
        code = languages.normalize(code)
    title = languages.NAMES.get(code) or name.replace("_", " ").title()
    return Identified(code, percent / 100, title), bool(reliable)
