#!/usr/bin/env python3
"""A bare grpcio server for (c): `newsmt.v1.TranslationService/Translate` returning each
segment's text unchanged. No pipeline, scheduler, interceptors or engine: the floor that
the newsmt server's own overhead is measured against.

    python bench/echo_server.py --port 50099 --workers 72
"""

from __future__ import annotations

import argparse
import signal
import threading
from concurrent import futures
from typing import Any

import grpc

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
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.workers))
    translation_pb2_grpc.add_TranslationServiceServicer_to_server(EchoTranslation(), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(1).wait()


if __name__ == "__main__":
    main()
