"""The HTTP listener of `newsmt serve`, beside the gRPC server, on the same pipeline.

One module per role:

    server.py          assembles the rest from the server's gate and servicers
    listener.py        uvicorn on its own thread and event loop; the Starlette app; TLS, CORS
    edge.py            a request through the shared call pipeline (server/calls.py) on a worker
                       thread: auth, rate limit, admission, deadline, hang-up, request id, logs
    protojson.py       the proto3 JSON mapping, body and content-type checks, and errors as
                       google.rpc.Status JSON with the standard HTTP status
    routes.py          the native REST routes, read from the protos' google.api.http
                       annotations (nothing lists them twice)
    native.py          those routes' handlers: JSON in, the servicer's method, JSON out;
                       streams as NDJSON or Server-Sent Events
    openapi.py         /openapi.json, generated from the same descriptors
    params.py          form, multipart and JSON parameters of the compatible APIs, and
                       CompatCall: one of their calls through the edge, in their error shape
    compat.py          what the compatible APIs are made of
    deepl.py           the DeepL-compatible API (/v2/...)
    libretranslate.py  the LibreTranslate-compatible API
    documents.py       file translation (bytes + name + mime -> bytes + name + mime), the one
                       interface TranslateDocument plugs into
    jobs.py            document jobs: the job store interface and its memory store, workers,
                       status, download once, expiry
    redis_store.py     the job store in Redis, shared by every replica
    page/              the review page for editors (GET /, /ui/...): static files, strict CSP
"""
