"""The review page for editors: `GET /` and its files under `/ui/`, shipped in this package.

The page (`static/`: HTML, CSS and JavaScript modules, no build step) translates pasted text or
a dropped file through the public HTTP API only (`/v1/translate:stream`,
`/v1/documents:translate`, `/v1/detect`, `/v1/languages`, `/v1/models`, `/v1/summarize`), so
everything it does any client can do, under the same tokens, rate limits and admission as
every other call. Its own files are static and hold no data: they are served without a token
(a browser cannot send one when it opens a page), and the page asks for a token when the API
answers 401, keeping it in sessionStorage for the tab's session only.

Every file is read once, when the listener is built, from a fixed folder: a request can only
name one of them (no path is ever joined with request input). Every response carries a strict
Content-Security-Policy: scripts, styles, images and fetches from this origin only, no inline
script or style, no plugins, no framing, no form posts; the page inserts model output and file
text as text, and its rendered HTML/Markdown preview goes through DOMPurify with an allowlist
that keeps no script, no style, no image and no link target (see `static/preview.js`).

`static/vendor/` holds DOMPurify and marked exactly as npm ships them (the versions in
tests/browser/package.json; `tests/test_review_page.py` checks the copies byte for byte).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

#: The page's Content-Security-Policy. `default-src 'self'` covers scripts, styles, fonts,
#: images and fetches; nothing inline (no 'unsafe-inline' anywhere), no eval, no plugins; the
#: page cannot be framed (clickjacking) and its forms cannot post anywhere.
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

#: Headers on every file of the page. `no-cache` revalidates each load (with the ETag), so a
#: server upgrade never leaves a browser on an older page against a newer API.
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cache-control": "no-cache",
}

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def load_assets(root: Traversable | None = None) -> dict[str, Asset]:
    """Every file under `static/` by its path there ("index.html", "vendor/marked.esm.js")."""
    base = root if root is not None else resources.files(__package__) / "static"
    assets: dict[str, Asset] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for item in folder.iterdir():
            if item.name.startswith(".") or item.name == "__pycache__":
                continue
            name = prefix + item.name
            if item.is_dir():
                walk(item, name + "/")
                continue
            suffix = "." + item.name.rsplit(".", 1)[-1] if "." in item.name else ""
            media = _TYPES.get(suffix) or mimetypes.guess_type(item.name)[0]
            body = item.read_bytes()
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            assets[name] = Asset(body, media or "application/octet-stream", etag)

    walk(base, "")
    return assets


def page_routes(assets: dict[str, Asset] | None = None) -> list[BaseRoute]:
    """`GET /` (the page) and `GET /ui/<file>` (its scripts, styles and vendored libraries)."""
    files = assets if assets is not None else load_assets()

    def serve(request: Request, asset: Asset | None) -> Response:
        if asset is None:
            return Response(b"not found\n", 404, HEADERS, media_type="text/plain")
        headers = {**HEADERS, "etag": asset.etag}
        if asset.etag in request.headers.get("if-none-match", ""):
            return Response(b"", 304, headers)
        return Response(asset.body, 200, headers, media_type=asset.media_type)

    async def index(request: Request) -> Response:
        return serve(request, files.get("index.html"))

    async def ui(request: Request) -> Response:
        return serve(request, files.get(request.path_params["path"]))

    return [
        Route("/", index, methods=["GET"]),
        Route("/ui/{path:path}", ui, methods=["GET"]),
    ]
