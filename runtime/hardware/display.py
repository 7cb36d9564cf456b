"""The attached display: a pygame-ce (SDL2) window; SDL picks kmsdrm, wayland or x11."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

_LOGGER = logging.getLogger(__name__)


def display_available() -> bool:
    """True when SDL has somewhere to draw (a desktop session, a console framebuffer, or a forced driver)."""
    if os.environ.get("SDL_VIDEODRIVER"):
        return True
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return True
    return any(Path("/dev/dri").glob("card*")) and os.access("/dev/tty0", os.W_OK)


class Display:
    """A window showing frames; not thread-safe (use from one thread)."""

    def __init__(self, *, size: int, fullscreen: bool = False, hide_cursor: bool = False,
                 title: str = "EdgeTalker") -> None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame

        self.pygame = pygame
        pygame.display.init()
        if pygame.display.get_driver() == "x11":
            # The window's frames go to X as they are (shared memory), not through OpenGL: on an X
            # server without a GPU (Xvfb, a kiosk's plain framebuffer) that is Mesa's llvmpipe on
            # the CPU: 2.1-2.7 ms of CPU a frame at 512 px and six more threads, against 0.3-0.45.
            os.environ.setdefault("SDL_FRAMEBUFFER_ACCELERATION", "0")
        flags = pygame.FULLSCREEN if fullscreen else 0
        self.screen = pygame.display.set_mode((0, 0) if fullscreen else (size, size), flags)
        pygame.display.set_caption(title)
        pygame.mouse.set_visible(not hide_cursor)
        self.driver = pygame.display.get_driver()
        self.shown = 0
        self._cleared: tuple[int, int] | None = None

    def show(self, rgb: np.ndarray) -> None:
        """Draw a frame (scaled to fill the screen, keeping its aspect).

        The frame's rows are handed to SDL as they are (no transposed copy), and the screen is
        cleared only when its size changes (the frame covers the same square every time): at 512
        px on an X server (Xvfb) this is 1.1 ms of CPU a frame instead of 2.6 (alternated runs),
        time the conversation's model gets back."""
        pg = self.pygame
        pg.event.pump()  # keep the window responsive; input is not used
        h, w = rgb.shape[:2]
        rows = np.ascontiguousarray(rgb)  # (held until the blit: the surface shares its memory)
        surface = pg.image.frombuffer(rows, (w, h), "RGB")
        sw, sh = self.screen.get_size()
        side = min(sw, sh)
        if (sw, sh) != self._cleared:  # (the borders beside a square frame on a wide screen)
            self.screen.fill((0, 0, 0))
            self._cleared = (sw, sh)
        if (w, h) != (side, side):
            surface = pg.transform.smoothscale(surface, (side, side))
        self.screen.blit(surface, ((sw - side) // 2, (sh - side) // 2))
        pg.display.flip()
        self.shown += 1

    def snapshot(self) -> np.ndarray:
        """What the screen shows now (RGB), read back from the window surface."""
        return self.pygame.surfarray.array3d(self.screen).transpose(1, 0, 2).copy()

    def close(self) -> None:
        """Close the window."""
        self.pygame.display.quit()


def open_display(mode: str, size: int, *, fullscreen: bool = False, hide_cursor: bool = False) -> Display | None:
    """A window when mode is `on`, or `auto` and a display exists; None otherwise (never an error in auto)."""
    if mode == "off" or (mode == "auto" and not display_available()):
        return None
    try:
        return Display(size=size, fullscreen=fullscreen, hide_cursor=hide_cursor)
    except Exception as err:
        if mode == "on":
            from runtime.core.errors import RenderFault

            raise RenderFault("display-unavailable", f"cannot open a window: {err}",
                               "check DISPLAY/WAYLAND_DISPLAY or the console, "
                               "or set [display] window = \"auto\"") from err
        _LOGGER.info("no window (%s)", err)
        return None
