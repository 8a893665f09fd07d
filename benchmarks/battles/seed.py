"""Databases for the battle benchmark: fresh PostgreSQL databases, simulated voters, models
with seeded ground-truth ratings, and battles/votes bulk-loaded as the app would write them.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
from pydantic import SecretStr
from sqlalchemy.engine import make_url

from arena.crypto import keyed_hash
from arena.models.service import OperatorModel
from benchmarks import common
from benchmarks.battles import ANSWER, COOKIE_SALT, NETWORKS, PROMPT, SECRET, WINNERS


def network_address(n: int) -> str:
    """Source address of network `n` (each its own /24 inside 127.0.0.0/8)."""
    return f"127.{1 + n // 256}.{n % 256}.1"


def pg_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_postgres(base: str, tag: str) -> Iterator[str]:
    """A new database on the server of `base`, dropped afterwards whatever happens."""
    import psycopg

    name = f"arena_bench_{tag}_{secrets.token_hex(4)}"
    admin = pg_conninfo(str(make_url(base).set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield str(make_url(base).set(database=name).render_as_string(hide_password=False))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Voters:
    """Simulated voters: a signed cookie each, spread over NETWORKS /24 networks."""

    def __init__(self, count: int) -> None:
        from itsdangerous import URLSafeSerializer

        signer = URLSafeSerializer(SECRET, salt=COOKIE_SALT)
        key = SecretStr(SECRET)
        self.ids = [f"bench-voter-{i:06d}" for i in range(count)]
        self.cookies = [signer.dumps(cid) for cid in self.ids]
        self.addresses = [network_address(i % NETWORKS) for i in range(count)]
        self.client_hash = [keyed_hash(key, "client", cid) for cid in self.ids]
        self.ip_hash = [keyed_hash(key, "ip", a) for a in self.addresses]
        self.net_hash = [
            keyed_hash(key, "net", a.rsplit(".", 1)[0] + ".0/24") for a in self.addresses
        ]

    def __len__(self) -> int:
        return len(self.ids)


def register_models(url: str, base_urls: list[str], count: int) -> list[int]:
    """`count` operator models Zeta-NN (approved, healthy), spread over the fake backends."""
    return common.register_models(
        url,
        (
            OperatorModel(
                name=f"Zeta-{k:02d}",
                base_url=base_urls[k % len(base_urls)] + "/v1",
                api_model="fake-model",
                organization=f"Org{k:02d}",
            )
            for k in range(count)
        ),
    )


def truth_ratings(model_ids: list[int], seed: int) -> dict[int, float]:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 120.0, len(model_ids))
    return {mid: float(1000.0 + x - r.mean()) for mid, x in zip(model_ids, r, strict=True)}


def draw_winners(
    rng: np.random.Generator, ra: np.ndarray, rb: np.ndarray
) -> np.ndarray:  # codes into WINNERS
    p = 1.0 / (1.0 + 10.0 ** ((rb - ra) / 400.0))
    u = rng.random(len(ra))
    tie = u < 0.10
    bothbad = (u >= 0.10) & (u < 0.13)
    a_wins = rng.random(len(ra)) < p
    return np.where(tie, 2, np.where(bothbad, 3, np.where(a_wins, 0, 1)))


def ts(dt: datetime) -> str:
    return dt.isoformat()


def copy_rows(conn: Any, table: str, columns: list[str], lines: Iterator[str]) -> None:
    """COPY text rows (already tab-separated) into `table`, in 1 MB chunks."""
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
        buf: list[str] = []
        size = 0
        for line in lines:
            buf.append(line)
            size += len(line)
            if size > 1 << 20:
                cp.write("".join(buf))
                buf, size = [], 0
        if buf:
            cp.write("".join(buf))


BATTLE_COLS = [
    "id",
    "model_a_id",
    "model_b_id",
    "system_message",
    "client_hash",
    "ip_hash",
    "network_hash",
    "created_at",
    "last_finished_at",
    "voted_at",
]
DRAW_COLS = ["battle_id", "model_a_id", "model_b_id", "probability", "pool_size", "created_at"]
VOTE_COLS = [
    "id",
    "battle_id",
    "winner",
    "model_a_id",
    "model_b_id",
    "turns",
    "client_hash",
    "ip_hash",
    "network_hash",
    "read_seconds",
    "included",
    "a_tokens",
    "b_tokens",
    "a_chars",
    "b_chars",
    "a_headers",
    "b_headers",
    "a_lists",
    "b_lists",
    "a_bold",
    "b_bold",
    "created_at",
]


def seed_battles_pg(
    url: str,
    voters: Voters,
    pairs: np.ndarray,
    owners: np.ndarray,
    prefix: str,
    *,
    finished: bool,
    now: datetime,
) -> list[str]:
    """Battles (+ sampling draws) as create_battle writes them; `finished`: with a done turn
    and two done answers, ready to vote on (as close_turn leaves them)."""
    import psycopg

    from arena.settings import NEUTRAL_SYSTEM_MESSAGE

    n = len(pairs)
    ids = [f"{prefix}{i:0{32 - len(prefix)}x}" for i in range(n)]
    stamp = ts(now)
    fin = stamp if finished else "\\N"
    pool = len(np.unique(pairs)) if n else 0
    with psycopg.connect(pg_conninfo(url)) as conn:
        copy_rows(
            conn,
            "battles",
            BATTLE_COLS,
            (
                f"{ids[i]}\t{pairs[i, 0]}\t{pairs[i, 1]}\t{NEUTRAL_SYSTEM_MESSAGE}\t"
                f"{voters.client_hash[owners[i]]}\t{voters.ip_hash[owners[i]]}\t"
                f"{voters.net_hash[owners[i]]}\t{stamp}\t{fin}\t\\N\n"
                for i in range(n)
            ),
        )
        copy_rows(
            conn,
            "sampling_draws",
            DRAW_COLS,
            (f"{ids[i]}\t{pairs[i, 0]}\t{pairs[i, 1]}\t0.001\t{pool}\t{stamp}\n" for i in range(n)),
        )
        if finished:
            finish_turns_pg(conn, ids, now)
        conn.commit()
    return ids


def prompt_of(battle_id: str) -> str:
    """A prompt of its own per battle, as real traffic has (one shared prompt would make
    every vote a `duplicate_prompt` and its counter row a lock every vote waits on)."""
    return f"{PROMPT} ({battle_id[-8:]})"


def finish_turns_pg(conn: Any, battle_ids: list[str], now: datetime) -> None:
    """One done turn with two done answers for each battle (what close_turn leaves: the
    vote inputs computed from the answers with the battle's models' names)."""
    from arena.categories import Conversation, categorize, join_tags
    from arena.votes.inputs import Answer, Identity, scan

    if not battle_ids:
        return
    asked = [{"role": "user", "content": prompt_of(battle_ids[0])}]
    tags = join_tags(categorize(Conversation.from_sides(asked, asked, ANSWER, ANSWER)))
    with conn.cursor() as cur:
        cur.execute(
            "SELECT b.id, a.name, a.organization, a.aliases, m.name, m.organization, m.aliases"
            " FROM battles b JOIN model_endpoints a ON a.id = b.model_a_id"
            " JOIN model_endpoints m ON m.id = b.model_b_id WHERE b.id = ANY(%s)",
            (battle_ids,),
        )
        sides = {r[0]: (Identity(r[1], r[2], r[3]), Identity(r[4], r[5], r[6])) for r in cur}
        inputs = []
        for bid in battle_ids:
            models = dict(zip(("A", "B"), sides[bid], strict=True))
            answers = [Answer(0, side, ANSWER, 12) for side in ("A", "B")]
            inputs.append(orjson.dumps(scan(prompt_of(bid), models, answers).to_json()).decode())
        cur.execute(
            "INSERT INTO battle_turns (battle_id, idx, content, status, attempts, created_at,"
            " finished_at, categories, vote_inputs)"
            " SELECT b, 0, c, 'done', 1, %s, %s, %s, v::json"
            " FROM unnest(%s::text[], %s::text[], %s::text[]) AS t(b, c, v)",
            (now, now, tags, battle_ids, [prompt_of(b) for b in battle_ids], inputs),
        )
        cur.execute(
            "INSERT INTO battle_responses (turn_id, side, role, content, status, finish_reason,"
            " prompt_tokens, completion_tokens, ttft_ms, duration_ms, started_at, finished_at)"
            " SELECT t.id, s.side, 'assistant', %s, 'done', 'stop', 20, 12, 1.0, 2.0, %s, %s"
            " FROM battle_turns t CROSS JOIN (VALUES ('A'), ('B')) AS s(side)"
            " WHERE t.battle_id = ANY(%s)",
            (ANSWER, now, now, battle_ids),
        )
        cur.execute(
            "UPDATE battles SET last_finished_at = %s WHERE id = ANY(%s)", (now, battle_ids)
        )


def seed_votes_1m(
    url: str, voters: Voters, model_ids: list[int], n: int, seed: int
) -> dict[str, Any]:
    """`n` voted battles and their votes (2% excluded with a `too_fast` ledger row)."""
    import psycopg

    rng = np.random.default_rng(seed)
    truth = truth_ratings(model_ids, seed)
    ids_arr = np.array(model_ids)
    m = len(model_ids)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    pairs = np.stack([ids_arr[a], ids_arr[b]], axis=1)
    tr = np.array([truth[i] for i in model_ids])
    winners = draw_winners(rng, tr[a], tr[b])
    owners = rng.integers(0, len(voters), n)
    excluded = rng.random(n) < 0.02
    base = datetime(2024, 1, 1, tzinfo=UTC)
    t0 = time.perf_counter()
    ids = seed_battles_pg(url, voters, pairs, owners, "b1", finished=False, now=base)
    t_battles = time.perf_counter() - t0
    stamp = ts(base + timedelta(minutes=5))
    t0 = time.perf_counter()
    with psycopg.connect(pg_conninfo(url)) as conn:
        copy_rows(
            conn,
            "votes",
            VOTE_COLS,
            (
                f"{i + 1}\t{ids[i]}\t{WINNERS[winners[i]]}\t{pairs[i, 0]}\t{pairs[i, 1]}\t1\t"
                f"{voters.client_hash[owners[i]]}\t{voters.ip_hash[owners[i]]}\t"
                f"{voters.net_hash[owners[i]]}\t30.0\t{'f' if excluded[i] else 't'}\t"
                f"12\t12\t60\t60\t0\t0\t0\t0\t0\t0\t{stamp}\n"
                for i in range(n)
            ),
        )
        excl_ids = (np.nonzero(excluded)[0] + 1).tolist()
        copy_rows(
            conn,
            "vote_exclusions",
            ["vote_id", "reason", "detail", "created_at"],
            (f"{v}\ttoo_fast\tsynthetic\t{stamp}\n" for v in excl_ids),
        )
        conn.execute(f"SELECT setval('votes_id_seq', {n})")
        conn.execute("UPDATE battles SET voted_at = %s", (base + timedelta(minutes=5),))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return {
        "votes": n,
        "excluded": len(excl_ids),
        "models": m,
        "load_battles_s": round(t_battles, 1),
        "load_votes_s": round(time.perf_counter() - t0, 1),
        "truth": {f"Zeta-{k:02d}": truth[mid] for k, mid in enumerate(model_ids)},
    }
