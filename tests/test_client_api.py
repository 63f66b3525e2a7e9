"""The sync and async clients are one API: same methods, same parameters, same defaults."""

from __future__ import annotations

import inspect

from newsmt.client import AsyncClient, Client

#: Context-manager and lifetime methods differ by nature (__enter__ vs __aenter__).
_LIFETIME = {"__enter__", "__exit__", "__aenter__", "__aexit__"}

#: Streaming methods: a generator in Client, an async generator (an async iterator) in
#: AsyncClient, yielding the same events.
_STREAMS = {"translate_stream"}


def _sync_form(annotation: str) -> str:
    """An async generator's return annotation written as its sync twin's."""
    if annotation.startswith("AsyncGenerator[") and annotation.endswith(", None]"):
        return "Generator[" + annotation.removeprefix("AsyncGenerator[")[:-1] + ", None]"
    return annotation


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in _LIFETIME
    }


def test_sync_and_async_clients_have_the_same_methods_and_signatures() -> None:
    sync, asynchronous = public_methods(Client), public_methods(AsyncClient)
    assert sorted(sync) == sorted(asynchronous)
    assert len(sync) >= 8  # translate, summarize, process_article, health, ...
    for name, signature in sync.items():
        other = asynchronous[name]
        assert list(signature.parameters.values()) == list(other.parameters.values()), name
        theirs = str(other.return_annotation)
        if name in _STREAMS:
            assert str(signature.return_annotation).startswith("Generator["), name
            theirs = _sync_form(theirs)
        assert str(signature.return_annotation) == theirs, name


def test_every_async_method_is_a_coroutine_function() -> None:
    for name in public_methods(AsyncClient):
        method = getattr(AsyncClient, name)
        if name in _STREAMS:
            assert inspect.isasyncgenfunction(method), name
        else:
            assert inspect.iscoroutinefunction(method), name
    for name in public_methods(Client):
        method = getattr(Client, name)
        assert not inspect.iscoroutinefunction(method), name
        assert inspect.isgeneratorfunction(method) == (name in _STREAMS), name
