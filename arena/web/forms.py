"""Form fields generated from the API's request schemas, so the page's HTML constraints
(required, lengths, choices) are the API's and cannot drift from them.

The page validates with these attributes before sending; the API stays the judge, and its
422 messages are shown next to the field they name.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from arena.models.schemas import ModelCreate
from arena.owners.schemas import OwnerCreate


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    hint: str
    required: bool
    input_type: str = "text"  # text | url | email | password | select | list
    minlength: int | None = None
    maxlength: int | None = None
    choices: tuple[tuple[str, str], ...] = ()
    autocomplete: str = "off"
    placeholder: str = ""
    item_maxlength: int | None = None  # list fields: each comma-separated entry
    max_items: int | None = None


# What the schema cannot say: words for people, input types, examples.
_TEXT: dict[str, dict[str, Any]] = {
    "name": {"label": "Display name", "hint": "Shown on the leaderboard; unique."},
    "organization": {"label": "Organization", "hint": "Who made the model (optional)."},
    "license": {
        "label": "Licence",
        "hint": "Open weights or a proprietary model.",
        "choices": {"open": "Open weights", "proprietary": "Proprietary"},
    },
    "parameters": {
        "label": "Parameters",
        "hint": "Parameter count of the weights, if known; shown on the leaderboard.",
        "placeholder": "7000000000",
    },
    "base_url": {
        "label": "Base URL",
        "hint": "The http(s) root of an OpenAI-compatible server; it must be publicly reachable.",
        "input_type": "url",
        "placeholder": "https://models.example.com",
    },
    "api_model": {
        "label": "Served model name",
        "hint": 'Sent as "model" in every request, as /v1/models lists it.',
        "placeholder": "org/model-7b-instruct",
    },
    "api_key": {
        "label": "API key",
        "hint": "Optional. Stored encrypted, never shown again, not even to you.",
        "input_type": "password",
        "autocomplete": "new-password",
    },
    "aliases": {
        "label": "Aliases",
        "hint": "Other names that would identify the model in an answer, comma-separated.",
        "input_type": "list",
    },
    "email": {
        "label": "Email",
        "hint": "Optional, for the operator to reach you.",
        "input_type": "email",
    },
}


def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """`X | None` is `anyOf: [X, null]` in JSON schema: the X part."""
    for option in schema.get("anyOf", ()):
        if option.get("type") != "null":
            return {**schema, **option}
    return schema


_OWNER_TEXT: dict[str, dict[str, Any]] = {
    **_TEXT,
    "name": {"label": "Name", "hint": "You or your team, as the operator will see it."},
}


def fields_of(model: type[BaseModel], words: dict[str, dict[str, Any]]) -> tuple[Field, ...]:
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    out = []
    for name, raw in schema["properties"].items():
        prop = _plain(raw)
        text = words.get(name, {})
        choices = text.get("choices", {})
        kind = text.get("input_type", "text")
        if "enum" in prop:
            kind = "select"
        items = _plain(prop.get("items", {})) if prop.get("type") == "array" else {}
        if items:
            kind = "list"
        out.append(
            Field(
                name=name,
                label=text.get("label", prop.get("title", name)),
                hint=text.get("hint", prop.get("description", "")),
                required=name in required,
                input_type=kind,
                minlength=prop.get("minLength"),
                maxlength=prop.get("maxLength"),
                choices=tuple((v, choices.get(v, v)) for v in prop.get("enum", ())),
                autocomplete=text.get("autocomplete", "off"),
                placeholder=text.get("placeholder", ""),
                item_maxlength=items.get("maxLength"),
                max_items=prop.get("maxItems"),
            )
        )
    return tuple(out)


@lru_cache(maxsize=1)
def model_fields() -> tuple[Field, ...]:
    return fields_of(ModelCreate, _TEXT)


@lru_cache(maxsize=1)
def owner_fields() -> tuple[Field, ...]:
    return fields_of(OwnerCreate, _OWNER_TEXT)
