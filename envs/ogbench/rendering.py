"""MuJoCo's offscreen rendering backend for OGBench's pixel envs (``visual-*``), chosen and checked up front.

OGBench renders every pixel observation with ``mujoco.Renderer`` (64x64, shadows from a 4096-pixel shadow map,
4x multisampling); the backend is ``MUJOCO_GL``: ``egl`` (headless; a GPU's driver, or Mesa's llvmpipe on the CPU),
``osmesa`` (software) or ``glfw`` (needs a display). On a CPU a frame costs about 0.2-0.35 CPU-s whatever its size
(the shadow map dominates), so a 1M-frame dataset is a job for a GPU machine (EGL) or a cluster.
"""

import ctypes.util
import functools
import os

HINT = ("install EGL (apt-get install libegl1; MUJOCO_GL=egl, headless, also without a GPU) or OSMesa "
        "(apt-get install libosmesa6; MUJOCO_GL=osmesa)")


def choose_backend() -> None:
    """Set ``MUJOCO_GL`` to ``egl`` or ``osmesa`` (whichever library is found first) unless it is set."""
    if "MUJOCO_GL" in os.environ:
        return
    for backend, library in (("egl", "EGL"), ("osmesa", "OSMesa")):
        if ctypes.util.find_library(library):
            os.environ["MUJOCO_GL"] = backend
            return


@functools.lru_cache(maxsize=1)
def check_renderer() -> str:
    """The working backend's name; a RuntimeError in one line saying what to install if MuJoCo cannot render."""
    import mujoco

    backend = os.environ.get("MUJOCO_GL", "glfw (the default)")
    from mujoco.rendering.classic import gl_context

    if gl_context._MUJOCO_GL != os.environ.get("MUJOCO_GL", "").lower().strip():
        raise RuntimeError(f"mujoco was imported before MUJOCO_GL was set to {backend} (import rllib_ext or envs "
                           f"before ray.rllib, or set MUJOCO_GL=egl in the environment): it cannot render headless")
    try:
        model = mujoco.MjModel.from_xml_string("<mujoco><worldbody><geom size='1'/></worldbody></mujoco>")
        with mujoco.Renderer(model, 8, 8) as renderer:
            renderer.update_scene(mujoco.MjData(model))
            renderer.render()
    except Exception as e:  # the backends fail with assorted errors (ImportError, GLError, AttributeError, ...)
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RuntimeError(f"MuJoCo cannot render offscreen with MUJOCO_GL={backend} ({message}): {HINT}") from None
    return backend
