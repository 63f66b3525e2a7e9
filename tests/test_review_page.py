"""The review page's files as the HTTP listener serves them (no browser: see
test_review_browser.py): every file with the strict CSP and the other headers, nothing served
that is not in the package's folder, revalidation by ETag, the page's markup free of inline
script and style, and the vendored libraries exactly as npm ships them."""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import requests

from newsmt.server.app import NewsmtServer
from newsmt.server.http.page import CSP, load_assets

PAGE = Path(__file__).resolve().parent.parent / "service/newsmt/server/http/page/static"
NODE_MODULES = Path(__file__).resolve().parent / "browser/node_modules"
VENDORED = {
    "purify.es.mjs": "dompurify/dist/purify.es.mjs",
    "marked.esm.js": "marked/lib/marked.esm.js",
    "LICENSE.dompurify.txt": "dompurify/LICENSE",
    "LICENSE.marked.txt": "marked/LICENSE",
}


def get(server: NewsmtServer, path: str, **kw: Any) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{server.http_port}{path}", timeout=10, **kw)


def test_every_file_is_served_with_the_strict_csp(
    identity_server: tuple[NewsmtServer, str],
) -> None:
    server, _ = identity_server
    page = get(server, "/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.content == (PAGE / "index.html").read_bytes()
    names = sorted(load_assets())
    assert "app.js" in names and "vendor/purify.es.mjs" in names
    for name in names:
        r = get(server, f"/ui/{name}")
        assert r.status_code == 200, name
        assert r.content == (PAGE / name).read_bytes()
        assert r.headers["content-security-policy"] == CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
    assert get(server, "/ui/app.js").headers["content-type"] == "text/javascript; charset=utf-8"
    assert get(server, "/ui/style.css").headers["content-type"] == "text/css; charset=utf-8"
    directives = dict(d.split(" ", 1) for d in CSP.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe" not in CSP and "data:" not in CSP


def test_nothing_outside_the_folder_and_revalidation(
    identity_server: tuple[NewsmtServer, str],
) -> None:
    server, _ = identity_server
    for path in (
        "/ui/nope.js",
        "/ui/../__init__.py",
        "/ui/%2e%2e/__init__.py",
        "/ui/..%2f__init__.py",
        "/ui/",
        "/ui/vendor",
        "/index.html",
    ):
        r = get(server, path)
        assert r.status_code == 404, path
        assert b"import" not in r.content
    first = get(server, "/ui/app.js")
    again = get(server, "/ui/app.js", headers={"if-none-match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert get(server, "/ui/app.js", headers={"if-none-match": '"other"'}).status_code == 200
    assert requests.post(f"http://127.0.0.1:{server.http_port}/", timeout=10).status_code == 405


def test_the_page_has_no_inline_script_or_style_and_loads_nothing_remote() -> None:
    html = (PAGE / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="/ui/app.js">']
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+\s*=", html)  # no inline event handlers
    for path in PAGE.rglob("*"):
        if path.suffix in (".html", ".js", ".css") and "vendor" not in path.parts:
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""", text), path
            assert "innerHTML" not in text and "insertAdjacentHTML" not in text, path
            assert "eval(" not in text and "new Function" not in text, path


def test_the_wheel_carries_every_file() -> None:
    """Every file of the page is a package's data in pyproject.toml, so a wheel carries it."""
    config = tomllib.loads((PAGE.parents[5] / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config["tool"]["setuptools"]["packages"]
    data = config["tool"]["setuptools"]["package-data"]
    files = [p for p in PAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert len(files) >= 10
    for path in files:
        folder = path.parent.relative_to(PAGE.parents[4]).as_posix().replace("/", ".")
        assert folder in packages, path
        assert any(fnmatch.fnmatch(path.name, glob) for glob in data[folder]), path


def test_vendored_libraries_are_npms_files_byte_for_byte() -> None:
    if not NODE_MODULES.is_dir():
        if os.environ.get("CI"):
            pytest.fail("tests/browser/node_modules is missing: scripts/dev.py test runs npm ci")
        pytest.skip("tests/browser/node_modules is missing (cd tests/browser && npm ci)")
    for name, source in VENDORED.items():
        assert (PAGE / "vendor" / name).read_bytes() == (NODE_MODULES / source).read_bytes(), name
