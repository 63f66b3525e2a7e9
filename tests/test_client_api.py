"""The sync and async clients are one API: same methods, same parameters, same defaults."""

from __future__ import annotations

import inspect

from newsmt.client import AsyncClient, Client

#: Context-manager and lifetime methods differ by nature (__enter__ vs __aenter__).
_LIFETIME = {"__enter__", "__exit__", "__aenter__", "__aexit__"}


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
        assert str(signature.return_annotation) == str(other.return_annotation), name


def test_every_async_method_is_a_coroutine_function() -> None:
    for name in public_methods(AsyncClient):
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name
    for name in public_methods(Client):
        assert not inspect.iscoroutinefunction(getattr(Client, name)), name
