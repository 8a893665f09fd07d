"""Ratings engine: Bradley-Terry leaderboards from pairwise battles.

Pure NumPy (SciPy only on error paths, pyarrow only for reading files); never
imports ``arena``. Ratings are Elo-scaled Bradley-Terry MLEs: 400 points per
factor 10 in odds, mean 1000 unless anchored; ties (both kinds) count half a
win for each side, as LMSYS/FastChat and lmarena/arena-rank do.

Entry points
------------
``ratings.fit.fit_file(path, *, anchor, ci, rounds, seed, style)``
    The ``arena ratings fit`` command: read ``.jsonl/.json/.csv/.parquet``
    (columns ``model_a, model_b, winner``, optional ``included``; with
    ``style=True`` also ``<feature>_a/_b`` for ``sum_assistant_tokens``,
    ``header_count``, ``list_count``, ``bold_count``) and return rows
    ``{model, rating, ci_low, ci_high, rank, rank_ub, battles}`` sorted by rank.
    ``ratings.fit.fit_file_leaderboard`` returns the :class:`Leaderboard`.
``ratings.counts.counts_from_rows(rows)`` / ``PairCounts.from_arrays(...)`` /
``ratings.counts.aggregate(models, a, b, outcome)``
    Build :class:`ratings.counts.PairCounts` from SQL ``GROUP BY`` rows, per-pair
    arrays or per-battle index arrays.
``ratings.leaderboard.fit_counts(counts, *, anchor=None, ci="sandwich", rounds=1000, seed=0, prior=None)``
    The server's entry point: a :class:`ratings.leaderboard.Leaderboard`
    (arrays by model, ``.rows()``, ``.params`` to store with a snapshot). Without
    ``prior`` the exact MLE (raising when it does not exist); ``prior=P`` adds ``P``
    virtual ties of every model against the mean (:mod:`ratings.bt`), also taken by
    ``fit_file`` and ``fit_battles_style``.
``ratings.fit.fit_battles_style(models, a, b, outcome, features_a, features_b, *, ...)``
    Style-controlled leaderboard from per-battle arrays (``style_coefficients``);
    the estimators in :mod:`ratings.style` take a :class:`ratings.style.StyleBattles`.
``ratings.outliers.evidence_path(a, b, p_a, score_a)``
    The exclusion rules' board test: a voter's sequential log-likelihood ratio against
    the board's predictions (``predicted_score``), with a Ville bound on false positives.
``ratings.elo.online_elo``, ``ratings.winrates``, ``ratings.sampling.pair_probabilities``
    Comparison view, display tables, and next-pair sampling weights.

Array aliases (``FloatArray``, ``IntArray``, ``BoolArray``) live in :mod:`ratings.types`.

Errors derive from :class:`ratings.errors.RatingsError`; problems with the
data raise :class:`ratings.errors.RatingsInputError` (one-line ``str()``), a
stalled optimiser :class:`ratings.errors.ConvergenceError`.

Reproducibility: the fit is deterministic; the bootstrap depends only on
``(seed, rounds)`` (blocks of :data:`ratings.intervals.BLOCK` rounds, block ``k``
drawn from child ``k`` of ``numpy.random.SeedSequence(seed)``).
"""
