"""The pieces of ``benchmarks/bench_battles.py``: load generator, seeding, recompute, phases."""

SECRET = "arena-bench-secret-key-0123456789abcdef"
COOKIE_SALT = "arena-client"
SEED = 20240601
NETWORKS = 256
PROMPT = "Name three colours."
ANSWER = "Red, green and blue are three colours; the sky is often blue."
WINNERS = ("A", "B", "tie", "bothbad")
