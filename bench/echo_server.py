#!/usr/bin/env python3
"""A bare grpcio server for (c): `newsmt.v1.TranslationService/Translate` returning each
segment's text unchanged. No pipeline, scheduler, interceptors or engine: the floor that
the newsmt server's own overhead is measured against.

    python bench/echo_server.py --port 50099 --workers 72
"""

from __future__ import annotations

import argparse
from typing import Any

from peers.peer import serve_translation

from newsmt.v1 import translation_pb2, translation_pb2_grpc


class EchoTranslation(translation_pb2_grpc.TranslationServiceServicer):
    def Translate(self, request: Any, context: Any) -> Any:  # noqa: N802 - gRPC method name
        return translation_pb2.TranslateResponse(
            translations=[
                translation_pb2.Translation(id=s.id, translated_text=s.text)
                for s in request.segments
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True, help="thread-pool size")
    args = parser.parse_args()
    serve_translation(EchoTranslation(), args.port, args.workers)


if __name__ == "__main__":
    main()
