"""Identity matching on prose only, and the aliases the identity probes add, down to the
vote they exclude (`identity_leak`) or keep counted."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from arena.db import session_scope
from arena.models.service import OperatorModel, add_operator_model
from arena.models.tables import ModelEndpoint
from arena.settings import Settings
from arena.votes.identity import find_identity, identity_terms, prose
from arena.votes.tables import Vote, VoteExclusion
from serving.fakes import FakeModel, FakeServer
from serving.identity_probes import extract_names
from tests.owners.test_owner_flow import ADMIN, new_owner, probe_all, register, settled

META = identity_terms("Llama-3-8B-Instruct", "Meta", ["Meta AI"])

HTML_ANSWER = """Here is a minimal page:

```html
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width"></head>
<body><p>Hello</p></body>
</html>
```

Save it as `index.html`; the `<meta charset>` line sets the encoding."""


@pytest.mark.parametrize(
    "text",
    [
        HTML_ANSWER,
        '<html><head><meta charset="utf-8"></head><body>Hi</body></html>',  # no fence at all
        "Add `<meta name='description'>` to the head.",
        "See https://ai.meta.com/llama/ or www.meta.com for the licence.",
        "```python\nfrom meta import llama\n",  # a fence cut off by max_tokens
        "<!-- Meta --> Done.",
    ],
)
def test_code_markup_and_urls_are_not_the_organization(text: str) -> None:
    assert find_identity(text, META) is None


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("I am Llama, made by Meta.", "Llama"),
        ("Made by Meta, I answer questions.", "Meta"),
        ("<p>I was trained by <b>Meta</b>.</p>", "Meta"),  # tags go, their text stays
        (HTML_ANSWER + "\n\nI am Llama, made by Meta AI.", "Llama"),
        ("if a < b and Meta > c", "Meta"),  # comparisons are not tags
    ],
)
def test_prose_still_names_the_model(text: str, hit: str) -> None:
    assert find_identity(text, META) == hit


def test_prose_keeps_the_words_around_the_markup() -> None:
    assert prose("one `two` <b>three</b> https://x.test/four five").split() == [
        "one",
        "three",
        "five",
    ]


@pytest.mark.parametrize(
    ("answer", "names"),
    [
        (
            "I am Qwen, created by Alibaba Cloud. I am a large language model.",
            ["Qwen", "Alibaba Cloud"],
        ),
        ("I'm SmolLM, an AI assistant developed by Hugging Face.", ["SmolLM", "Hugging Face"]),
        ("I am an AI assistant created by OpenAI.", ["OpenAI"]),
        ("I am a helpful assistant. I don't have a name.", []),
        ("Hello! I'm here to help you today.", []),
        (
            "I am Qwen2.5-Coder, trained by the Qwen Team at Alibaba Group.",
            ["Qwen2.5-Coder", "Qwen", "Alibaba"],
        ),
        ("My name is “Phi-3”, built by Microsoft Research.", ["Phi-3", "Microsoft Research"]),
        ("I am called Nova Assistant, made by the Acme Team.", ["Nova", "Acme"]),
    ],
)
def test_names_extracted_from_identity_answers(answer: str, names: list[str]) -> None:
    assert extract_names(answer) == names


# --- the vote --------------------------------------------------------------------------


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_private_endpoints": True})


@pytest.fixture
def servers() -> Iterator[tuple[FakeServer, FakeServer]]:
    qwen = FakeServer(FakeModel.naming_itself("Qwen", "Alibaba Cloud", served_name="owner/m"))
    plain = FakeServer(FakeModel(served_name="plain", answer="Paris is the capital."))
    with qwen, plain:
        yield qwen, plain


async def vote_after(client: httpx.AsyncClient, question: str) -> None:
    r = await client.post("/api/v1/battles", json={})
    assert r.status_code == 201, r.text
    battle_id = r.json()["battle_id"]
    r = await client.post(f"/api/v1/battles/{battle_id}/messages", json={"content": question})
    assert r.status_code == 200 and r.text.rstrip().endswith("[DONE]")
    r = await client.post(f"/api/v1/battles/{battle_id}/vote", json={"winner": "tie"})
    assert r.status_code == 200, r.text


def last_vote(app: FastAPI) -> tuple[bool, dict[str, str]]:
    with session_scope(app.state.sessionmaker) as s:
        vote = s.scalars(select(Vote).order_by(Vote.id.desc())).first()
        assert vote is not None
        stmt = select(VoteExclusion).where(VoteExclusion.vote_id == vote.id)
        return vote.included, {e.reason: e.detail for e in s.scalars(stmt)}


async def test_probed_names_exclude_the_vote_that_gives_them(
    app: FastAPI, client: httpx.AsyncClient, servers: tuple[FakeServer, FakeServer]
) -> None:
    """The owner registered "Acme-7B" by Acme: only the identity probes know it is Qwen."""
    qwen, plain = servers
    auth = await new_owner(client)
    model_id = await register(client, auth, qwen.base_url, api_model="owner/m")
    model = await settled(client, model_id, auth)
    assert model["status"] == "verified" and "Qwen" in model["aliases"]
    r = await client.post(f"/api/v1/admin/models/{model_id}/approve", json={}, headers=ADMIN)
    assert r.status_code == 200
    with session_scope(app.state.sessionmaker) as session:
        add_operator_model(session, OperatorModel("Plain", plain.base_url, "plain"))
    await probe_all(app)

    await vote_after(client, "Who are you?")
    included, reasons = last_vote(app)
    assert included is False and set(reasons) == {"identity_leak"}
    assert "named 'Qwen'" in reasons["identity_leak"]

    # Without the probes' names the same answer would have counted.
    with session_scope(app.state.sessionmaker) as session:
        row = session.scalars(select(ModelEndpoint).where(ModelEndpoint.name == "Acme-7B")).one()
        row.aliases = ["m"]
    await vote_after(client, "Who are you, really?")
    assert last_vote(app) == (True, {})


async def test_html_answer_is_not_a_leak_for_meta(
    app: FastAPI, client: httpx.AsyncClient, servers: tuple[FakeServer, FakeServer]
) -> None:
    _, plain = servers
    async with FakeServer(FakeModel(served_name="llama", answer=HTML_ANSWER)) as llama:
        with session_scope(app.state.sessionmaker) as session:
            spec = OperatorModel(
                "Llama-3-8B", llama.base_url, "llama", organization="Meta", aliases=["Meta AI"]
            )
            add_operator_model(session, spec).healthy = True
            add_operator_model(
                session, OperatorModel("Plain", plain.base_url, "plain")
            ).healthy = True
        await vote_after(client, "Write a minimal HTML page.")
        assert last_vote(app) == (True, {})
        llama.model.answer = "I am Llama, made by Meta."
        await vote_after(client, "Who are you?")
        included, reasons = last_vote(app)
        assert included is False and "named 'Llama'" in reasons["identity_leak"]
