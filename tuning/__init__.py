"""Ray Tune + Optuna searches over the project's algorithms.

``tuning.spaces``: the default search spaces (plain ``{config key: Tune domain}`` dicts) and
``load_space(FILE)``; ``tuning.search``: ``run_search``, which builds the ``tune.Tuner`` (Optuna
proposes, ASHA stops early) and writes ``best_config.json``, ``trials.csv`` and ``search.png``.
"""
