"""Ray Tune + Optuna searches over the project's algorithms (see issue: tuning)."""
