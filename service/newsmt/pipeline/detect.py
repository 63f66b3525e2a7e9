"""Language identification with lingua, restricted to the languages newsmt serves."""

from __future__ import annotations

import threading

from lingua import Language, LanguageDetector, LanguageDetectorBuilder

from newsmt.core import languages

_LINGUA = {
    Language.ENGLISH: languages.ENGLISH,
    Language.RUSSIAN: languages.RUSSIAN,
    Language.SPANISH: languages.SPANISH,
}


class LanguageDetection:
    """Detects en, ru or es with a confidence in 0..1. Thread-safe; load once per process."""

    def __init__(self) -> None:
        self._detector: LanguageDetector = (
            LanguageDetectorBuilder.from_languages(*_LINGUA)
            .with_preloaded_language_models()
            .build()
        )
        self._lock = threading.Lock()

    def detect(self, text: str) -> tuple[str, float]:
        """(language code, confidence), or ("", 0.0) when the text has nothing to go on."""
        if not text.strip():
            return ("", 0.0)
        values = self._detector.compute_language_confidence_values(text)
        if not values or values[0].value <= 0.0:
            return ("", 0.0)
        best = values[0]
        return (_LINGUA[best.language], float(best.value))
