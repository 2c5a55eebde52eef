"""OGBench datasets: names and the ``.npz`` layout (``dataset``), local generation (``datagen``) and the Ray
fan-out of independent episode jobs shared with the goal-conditioned evaluation (``ray_tasks``).

Importing this package picks MuJoCo's headless renderer for pixel envs before ``ogbench`` imports ``mujoco``:
``MUJOCO_GL=egl`` where libEGL is found, else ``osmesa`` where libOSMesa is; a ``MUJOCO_GL`` already set is kept
(``rendering.check_renderer`` tells whether it works).
"""

from envs.ogbench.rendering import choose_backend

choose_backend()
