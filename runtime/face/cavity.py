"""The colours and the shading of an open mouth's inside (behind the teeth): what the mouth painter
(runtime.face.mouth) fills the parted lips with before the teeth are drawn over it.

A real open mouth in a photo is the lips' red in shade, never black: dark red-brown at the back
and in the upper teeth's shadow, lighter towards the lips that let the light in (most of all along
the lower lip's wet inner edge), darker at the corners, which the cheeks shade. From a moderate
opening on the tongue's top shows above the lower lip: a soft dome, pinker and lighter than the
cavity, lit at its front and fading as it recedes, with a faint furrow down its middle. Every
term varies smoothly; only the tongue's outline is a little crisper than the shade around it, so
it reads as a shape and not as a smudge.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face.ease import smoothstep
from runtime.face.teeth import luma as _luma
from runtime.face.teeth import skin_light as _skin_light

BACK = 0.2
"""The back of the mouth and the upper teeth's shadow: this much of the skin's light (the real
open mouths in the test photos are 18-47 % of it at their darkest tenth)."""
FRONT = 0.38
"""The cavity along the lips (the light they let in): this much of the skin's light."""
TONGUE = 0.5
"""The tongue's lit front: this much of the skin's light (at most 90 % of the lips' own)."""
_TONGUE_FROM, _TONGUE_OVER = 0.1, 0.12
"""The tongue shows from an opening of 0.1 mouth widths on and fully 0.12 later (an A, an O; an
E a little)."""
_TONGUE_HEIGHT = 0.5
"""How high the tongue's dome rises above the lower lip in the middle (fraction of the opening)."""
LIT_RIM = 0.8
"""The lips' inner skin where it turns into the mouth: this much of the lips' own light."""
_RIM_REACH = 0.08
"""How far in from the lips their light reaches before the mouth's shade takes over (mouth widths)."""
_CORE = 0.25
"""How much darker the middle of the opening, the farthest from every lip, is than its shade."""


class Cavity:
    """One avatar's mouth-inside colours (from the portrait's lips and light) and its shading."""

    def __init__(self, portrait: np.ndarray, lm: np.ndarray, mouth_width: float, lip: np.ndarray) -> None:
        self.mw = mouth_width
        light = _skin_light(portrait, lm)
        # The lips' hue in shade: deeper red (less green and blue), a third of its way to grey.
        red = lip * np.array([1.0, 0.46, 0.42], np.float32)
        red = red + (float(_luma(red)) - red) * 0.3  # (redder, it drew a dark-red rim round the opening)
        unit = red / max(float(_luma(red)), 1.0)
        self.front = unit * max(FRONT * light, 44.0)
        """The cavity along the lips."""
        self.back = unit * max(BACK * light, 28.0)
        """The back of the mouth (a dark red-brown, never black)."""
        tongue = lip * np.array([1.0, 0.64, 0.7], np.float32)
        tongue = tongue + (float(_luma(tongue)) - tongue) * 0.25  # (less saturated than the lips)
        self.tongue = tongue / max(float(_luma(tongue)), 1.0) * min(TONGUE * light, 0.9 * float(_luma(lip)))
        """The tongue's lit front."""
        lit = lip * np.array([1.0, 0.8, 0.8], np.float32)  # (a little redder than the lips: wet, in shade)
        self.lit = lit / max(float(_luma(lit)), 1.0) * LIT_RIM * float(_luma(lip))
        """The lips' inner skin just inside the opening."""
        self.rim = 0.5 * (self.front + 0.75 * lip)  # (in the lip's own hue: a redder rim read as a red line)
        """The lower lip's wet inner edge, where it turns into the mouth."""

    def shade(self, yy: np.ndarray, xs: np.ndarray, upper: np.ndarray, lower: np.ndarray, opening: float,
              ends: tuple[float, float], matte: np.ndarray | None = None, teeth_on_top: bool = False) -> np.ndarray:
        """The inside's colour over rows `yy` ((h, 1)) and columns `xs` ((w,)), between the opening's
        upper edge `upper` and its lower edge `lower` (per column), (h, w, 3) float. `opening`: the
        opening's height (pixels); `ends`: its corners (x, left and right); `matte`: the opening's
        outline as drawn (0..1 over the same grid; None: no light from the lips)."""
        gap = np.maximum(lower - upper, 1.0)
        centre, half = 0.5 * (ends[0] + ends[1]), max(0.5 * (ends[1] - ends[0]), 1.0)
        across = np.clip(np.abs(xs - centre) / half, 0, 1)
        t = np.clip((yy - upper) / gap, 0, 1)  # 0 under the upper teeth or lip, 1 at the lower lip
        # Depth: a small opening is all front (the lips' light reaches its back); a wide one shows
        # the back of the mouth under the upper teeth, lightening towards the lower lip.
        deep = smoothstep(opening / (0.18 * self.mw))
        # (the throat: the darkest in the middle, a little below the upper teeth, fading out in
        # every direction; a uniform dark band under the teeth read as a flat slab)
        throat = np.exp(-((across / 0.55) ** 2 + ((t - 0.3) / 0.38) ** 2))
        depth = deep * np.clip(0.6 * (1 - smoothstep(t) ** 0.8) + 0.55 * throat, 0, 1)
        out = self.front + (self.back - self.front) * depth[..., None]
        # (the upper teeth's or lip's contact shadow: a little darker in their first pixels, not a bar)
        out = out * (0.86 + 0.14 * smoothstep((yy - upper) / (1.5 + 0.12 * gap)))[..., None]
        # The corners are in the cheeks' shade.
        shaded = (1 - 0.5 * smoothstep((across - 0.3) / 0.5)) * (1 - 0.35 * smoothstep((across - 0.7) / 0.3))
        out = out * shaded[..., None]
        # Where the lips nearly meet (towards the corners) no light gets in: a dark slit.
        wide = smoothstep(gap / max(0.35 * opening, 1.0))
        out = out * (0.55 + 0.45 * wide)[..., None]
        # The lower lip's wet inner edge catches the light.
        reach = 1.0 + 0.04 * self.mw
        wet = np.exp(-np.maximum(lower - yy, 0.0) / reach) * (1 - across ** 2) * 0.4 * wide
        out = out + (self.rim - out) * wet[..., None]
        out = np.maximum(out, 0.7 * self.back)  # (dark, never black)
        if matte is not None:
            out = self._lit_from_lips(out, matte, t, across, teeth_on_top)
        return self._tongue(out, yy, xs, lower, gap, across, opening, centre)

    def _lit_from_lips(self, out: np.ndarray, matte: np.ndarray, t: np.ndarray, across: np.ndarray,
                       teeth_on_top: bool) -> np.ndarray:
        """The inside lit from the lips inwards: just inside the opening's outline (`matte`, 0..1 over
        the same grid as `out`) the lips' own skin turns in, a lighter warm red, falling off into the
        mouth's shade over a few pixels (a maroon that met the lips in one step read as pasted in); the
        middle, farthest from every lip, a little darker still. Under the upper teeth (`teeth_on_top`)
        there is no lit rim: they shade the mouth below them; nor towards the corners (`across`, 0 in
        the middle, 1 at a corner), which the cheeks shade."""
        dist = cv2.distanceTransform((matte > 0.5).astype(np.uint8), cv2.DIST_L2, 3)
        deepest = max(float(dist.max()), 1.0)
        reach = max(1.5, min(_RIM_REACH * self.mw, 0.35 * deepest))  # (a small opening keeps a dark middle)
        # (a narrow gap is dark all through: lit to its middle, lips a few pixels apart read as shut)
        along = smoothstep((deepest - 1.0) / (0.05 * self.mw))
        along = along * (smoothstep(t / 0.45) if teeth_on_top else 0.7 + 0.3 * smoothstep(t / 0.45))
        along = along * (1 - 0.8 * smoothstep((across - 0.4) / 0.4))
        near = np.exp(-((dist / reach) ** 1.3)) * along
        out = out + (self.lit - out) * near[..., None]
        # (deep in, the mouth loses its red as well as its light: a brown-black, not a uniform maroon)
        core = smoothstep((dist - reach) / (2.0 * reach))[..., None]
        out = out + (_luma(out)[..., None] - out) * (0.3 * core)
        if not teeth_on_top:  # (behind made-up teeth the mouth keeps its shade: darker there, the face mesh
            # read the older woman's widest opening 7 % narrower and her lips as springing open after an m)
            return out
        return np.maximum(out * (1.0 - _CORE * core), 0.7 * self.back)

    def _tongue(self, out, yy, xs, lower, gap, across, opening, centre):
        """The tongue's top, a dome over the lower lip, at moderate and wide openings."""
        show = smoothstep((opening - _TONGUE_FROM * self.mw) / (_TONGUE_OVER * self.mw))
        if show <= 0:
            return out
        # Its crest is flatter than the lower lip's curve: highest in the middle, it meets the lip
        # towards the corners (a band along the lip would read as a second lip).
        mid = int(np.argmin(across))
        top = lower[mid] - gap[mid] * _TONGUE_HEIGHT * (0.6 + 0.4 * show)
        crest = top + (lower - top) * np.clip(across / 0.8, 0, 1) ** 1.8
        edge = max(1.5, 0.04 * self.mw)  # (soft: a crisp outline read as a pasted pink patch)
        amount = smoothstep((yy - crest) / edge + 0.5) * smoothstep((0.85 - across) / 0.3) * show
        # (the mouth behind the tongue's crest is in its shade: a soft contour above it)
        behind = smoothstep((yy - crest + 0.25 * gap) / (0.25 * gap)) * (1 - amount) * show
        out = out * (1 - 0.2 * behind * (1 - across ** 2))[..., None]
        depth = np.clip((yy - crest) / np.maximum(lower - crest, 1.0), 0, 1)  # 0 at its crest, 1 at the lip
        # Lit at its front, darker as it recedes into the mouth and towards its sides; a sheen
        # across its middle and a faint furrow down it.
        # (its front, just inside the lower lip, is in the lip's shade: lit all the way down it
        # read as a second lower lip)
        tone = (0.7 + 0.3 * smoothstep(depth / 0.55)) * (1 - 0.3 * across ** 2)
        tone = tone * (1 - 0.22 * smoothstep((depth - 0.6) / 0.4))
        tone = tone * (1 + 0.07 * np.exp(-(((depth - 0.45) / 0.2) ** 2)) * (1 - across ** 2))
        furrow = np.exp(-(((xs - centre) / max(1.2, 0.035 * self.mw)) ** 2))
        tone = tone * (1 - 0.06 * furrow * smoothstep(depth / 0.3))
        return out + (self.tongue * tone[..., None] - out) * amount[..., None]
