"""What the DeepL and LibreTranslate adapters share: the pieces they are made of."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from newsmt.server.http.edge import Edge
from newsmt.server.http.jobs import DocumentJobs
from newsmt.server.servicers import TranslationServicer
from newsmt.server.settings import Settings


@dataclass
class CompatApi:
    """A compatible API: the settings, the shared edge, the translation servicer (whose
    methods do the work), the document jobs, and the language pairs this server routes."""

    settings: Settings
    edge: Edge
    translation: TranslationServicer
    jobs: DocumentJobs
    pairs: Callable[[], list[tuple[str, str]]]
