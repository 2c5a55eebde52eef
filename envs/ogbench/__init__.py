"""OGBench datasets: names and the ``.npz`` layout (``dataset``), local generation (``datagen``) and the Ray
fan-out of independent episode jobs shared with the goal-conditioned evaluation (``ray_tasks``)."""
