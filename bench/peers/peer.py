"""What both peer servers share: the `newsmt.v1.TranslationService/Translate` method over one
`translate(texts) -> texts` function, every call serialised under one lock, and the flags.

A peer server is the simplest honest way to serve the same model: one engine call per request,
the request's segments as the batch, nothing shared between requests. The decoding settings
and the per-sentence output bound are newsmt's own (the bench passes them as JSON), so that the
comparison measures the serving style and nothing else.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc

from newsmt.v1 import translation_pb2, translation_pb2_grpc

Translate = Callable[[Sequence[str]], list[str]]


@dataclass(frozen=True)
class Decoding:
    """newsmt's decoding settings for the model, and its per-sentence output bound:
    max_new_tokens = min(max_length, int(output_ratio x input tokens) + output_extra)."""

    num_beams: int
    length_penalty: float
    repetition_penalty: float
    no_repeat_ngram_size: int
    max_length: int
    output_ratio: float
    output_extra: int

    def bound(self, input_tokens: int) -> int:
        value = int(self.output_ratio * input_tokens) + self.output_extra
        return max(1, min(value, self.max_length))


def parse(
    description: str, argv: Sequence[str] | None = None, *, compute_type: bool = False
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    if compute_type:
        parser.add_argument(
            "--compute-type", default="int8", help="CTranslate2's, as newsmt's (default: int8)"
        )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True, help="the model folder the engine loads")
    parser.add_argument("--tokenizer", required=True, help="the Hugging Face model folder")
    parser.add_argument("--threads", type=int, required=True, help="threads per engine call")
    parser.add_argument("--decoding", required=True, help="Decoding fields as a JSON object")
    parser.add_argument("--workers", type=int, default=32, help="gRPC thread-pool size")
    return parser.parse_args(argv)


def decoding(args: argparse.Namespace) -> Decoding:
    return Decoding(**json.loads(args.decoding))


class PerRequest(translation_pb2_grpc.TranslationServiceServicer):
    """Translate: the request's segments as one engine call, one call at a time."""

    def __init__(self, translate: Translate) -> None:
        self.translate = translate
        self.lock = threading.Lock()

    def Translate(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
        texts = [s.text for s in request.segments]
        with self.lock:
            outputs = self.translate(texts) if texts else []
        return translation_pb2.TranslateResponse(
            translations=[
                translation_pb2.Translation(id=s.id, translated_text=out)
                for s, out in zip(request.segments, outputs, strict=True)
            ]
        )


def serve(translate: Translate, port: int, workers: int) -> None:
    """Serve `translate`, one call at a time, until SIGTERM or SIGINT."""
    serve_translation(PerRequest(translate), port, workers)


def serve_translation(servicer: Any, port: int, workers: int) -> None:
    """Serve a TranslationService on 127.0.0.1:`port` until SIGTERM or SIGINT. The port opens
    only now, after any model has loaded: the bench takes a connecting channel as ready."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    translation_pb2_grpc.add_TranslationServiceServicer_to_server(servicer, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(1).wait()
