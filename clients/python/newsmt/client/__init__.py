"""The newsmt Python client.

    from newsmt.client import Client

    with Client("localhost:50051") as client:
        result = client.process_article(title, body, targets=["ru"], summaries=["en"])

`AsyncClient` has the same methods as coroutines. Failed calls raise `NewsmtError` subclasses;
the generated stubs are in `newsmt.v1` for callers who want protobuf messages.
"""

from newsmt.client._client import (
    DEFAULT_ADDRESS,
    DEFAULT_TIMEOUT,
    AsyncClient,
    Client,
    tls_credentials,
)
from newsmt.client._errors import (
    AuthenticationError,
    CancelledError,
    DeadlineExceededError,
    FieldViolation,
    InvalidArgumentError,
    ModelUnavailableError,
    NewsmtError,
    OverloadedError,
    UnavailableError,
)
from newsmt.client._types import (
    ArticleResult,
    ArticleSummary,
    ArticleTranslation,
    DetectedLanguage,
    Faithfulness,
    FlaggedUnit,
    Glossary,
    GlossaryEntry,
    InputHandling,
    LanguagePair,
    Languages,
    ModelInfo,
    Quality,
    QualityFlag,
    Route,
    Segment,
    SegmentDone,
    StageStatus,
    StreamDone,
    StreamEvent,
    Summary,
    TextFormat,
    TranslatedDocument,
    TranslatedUnit,
    Translation,
)

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_TIMEOUT",
    "ArticleResult",
    "ArticleSummary",
    "ArticleTranslation",
    "AsyncClient",
    "AuthenticationError",
    "CancelledError",
    "Client",
    "DeadlineExceededError",
    "DetectedLanguage",
    "Faithfulness",
    "FieldViolation",
    "FlaggedUnit",
    "Glossary",
    "GlossaryEntry",
    "InputHandling",
    "InvalidArgumentError",
    "LanguagePair",
    "Languages",
    "ModelInfo",
    "ModelUnavailableError",
    "NewsmtError",
    "OverloadedError",
    "Quality",
    "QualityFlag",
    "Route",
    "Segment",
    "SegmentDone",
    "StageStatus",
    "StreamDone",
    "StreamEvent",
    "Summary",
    "TextFormat",
    "TranslatedDocument",
    "TranslatedUnit",
    "Translation",
    "UnavailableError",
    "tls_credentials",
]
