"""Alternatives: the model's next best translations, asked for per request (at most 3)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from newsmt.client import Client, InvalidArgumentError
from newsmt.scheduler.batcher import BatcherConfig, plan_calls

SENTENCES = ["The minister resigned on Tuesday.", "Prices rose sharply in May."]


def test_rows_asking_for_alternatives_never_share_a_call() -> None:
    rows = [
        SimpleNamespace(tokens=["a", "b"], max_new_tokens=10, hypotheses=h) for h in (1, 3, 1, 3)
    ]
    calls, left = plan_calls(rows, BatcherConfig())
    assert left == []
    assert sorted(len(c) for c in calls) == [2, 2]
    assert all(len({row.hypotheses for row in call}) == 1 for call in calls)


def test_the_tiny_models_give_distinct_alternatives(tiny_client: Client) -> None:
    plain = tiny_client.translate(SENTENCES, source="en", target="ru")
    asked = tiny_client.translate(SENTENCES, source="en", target="ru", alternatives=3)
    for one, other in zip(plain, asked, strict=True):
        # The best translation is the same with or without alternatives (beam 4 >= 3).
        assert other.text == one.text
        assert one.alternatives == ()
        assert len(other.alternatives) <= 3
        assert one.text not in other.alternatives
        assert len(set(other.alternatives)) == len(other.alternatives)
    # Random weights make near-identical hypotheses: those the output bound cuts to the
    # best one's text are left out, but not all of them.
    assert any(other.alternatives for other in asked)
    # Asked again: the same answer, from the cache (the key records the alternatives).
    again = tiny_client.translate(SENTENCES, source="en", target="ru", alternatives=3)
    assert [a.alternatives for a in again] == [a.alternatives for a in asked]
    assert all(a.cached_units == a.units for a in again)


def test_a_pivot_route_takes_its_last_hops_alternatives(tiny_client: Client) -> None:
    [out] = tiny_client.translate(
        ["El ministro dimitió."], source="es", target="ru", alternatives=2
    )
    assert out.route.models == ("opus-mt-es-en", "opus-mt-en-ru")
    assert 1 <= len(out.alternatives) <= 2 and out.text not in out.alternatives


def test_the_identity_engine_has_no_alternatives_and_the_limit_is_three(
    identity_client: Client,
) -> None:
    [out] = identity_client.translate(["Same text."], source="en", target="ru", alternatives=3)
    assert out.text == "Same text." and out.alternatives == ()
    with pytest.raises(InvalidArgumentError) as info:
        identity_client.translate(["Same text."], source="en", target="ru", alternatives=4)
    assert info.value.violations[0].field == "alternatives"
