"""The light of a closing upper lid: the warp (runtime.face.eyelids) has slid the person's own lid
down over the eye; this sets how it is lit.

The lid skin the warp draws down carries the fold's shadow and, stretched, its grain turns into
fine vertical streaks. So, per frame, over the moving lid only: the streaks are softened across,
the light is set to the lid's own lit skin (measured per column on the portrait, between its
lashes and whatever lies above) and rounded over the eyeball (darker towards the lash line and the
corners) by shifting the light alone, so the lid keeps the colour and the fine texture of the
warped skin; the skin's own grain (from under the eye, never stretched) is laid back where the
stretch smoothed it, and the lash line at the moving margin is kept dark. Nothing is drawn above
the lid's skin, so there is no outline.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face.ease import smoothstep
from runtime.face.eyelids import EYES, Lid, lid

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_GRAIN = 0.03
"""Typical texture of lid skin: relative brightness changes (robust standard deviation); the lid
takes the grain of the skin it is made of, within half and twice this."""
LID_GRAIN_MAX = 2.0
"""The grain laid over a closed lid is at most this many times the grain of the skin it is taken
from (the skin under the eye)."""




def _spread(values: np.ndarray) -> float:
    """Robust standard deviation (from the median absolute deviation)."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values)))) + 1e-6


class LidPainter:
    """Sets the light of both closing upper lids; built once per avatar."""

    def __init__(self, portrait: np.ndarray, landmarks: np.ndarray, eye_d: float, lids: list | None = None) -> None:
        lm = landmarks[:, :2].astype(np.float64)
        self.eye_d = eye_d
        self.lids = lids if lids is not None else [lid(lm, eye_d, eye, portrait) for eye in EYES]
        """The lids as the rig's blinks move them (runtime.face.eyelids.lid)."""
        rgb = portrait.astype(np.float32)
        light = rgb @ _LUMA
        self.levels = [self._level(light, one) for one in self.lids]
        self.lashes = [self._lash_colour(rgb, light, one, level) for one, level in zip(self.lids, self.levels,
                                                                                           strict=True)]
        self.grain = [self._grain(rgb, one) for one in self.lids]
        self.tints = [self._tint(rgb, one) for one in self.lids]
        # A closed lid is about as light as the skin under its eye: never a dark patch (a bruise)
        # where the lid's own band lies in the brow's shade or hair (then the lid is as light as
        # the skin under the eye), nor paler than the skin around the eye: at most as light as the
        # lid's skin band or the skin under the eye, whichever is lighter (a pale disc reads as
        # make-up or a mask). (A band far darker than the skin under the eye, under two thirds of
        # its light, is a glasses frame's shade: that lid keeps within 85 % of the skin under it.)
        levels = []
        for level, (_, under) in zip(self.levels, self.tints, strict=True):
            band = float(np.median(level))
            if 0.65 * under <= band < under:
                levels.append(np.clip(level, 0.97 * under, under))
            else:
                levels.append(np.minimum(np.maximum(level, 0.85 * under), 1.04 * max(under, band)))
        self.levels = levels
        self.tints = [tint for tint, _ in self.tints]

    def _tint(self, rgb: np.ndarray, one: Lid) -> tuple[np.ndarray, float]:
        """The hue of the skin under the eye (colour over its light) and its light: a lid is
        skin-coloured, not the grey-brown of the brow's shade it is stretched from (a bruise)."""
        e, (h, w) = self.eye_d, rgb.shape[:2]
        x0, x1 = int(np.clip(one.x0 + len(one.lid) // 4, 0, w - 1)), int(np.clip(one.x1 - len(one.lid) // 4, 1, w))
        found = []
        for near, tall in ((0.05, 0.12), (0.01, 0.07)):  # (the hue a little lower, the light right under the eye)
            y0 = int(np.clip(round(float(np.median(one.lid + one.gap)) + near * e), 0, h - 1))
            y1 = int(np.clip(y0 + max(3, round(tall * e)), y0 + 1, h))
            patch = rgb[y0:y1, x0:max(x1, x0 + 1)].reshape(-1, 3)
            found.append(np.median(patch, axis=0) if len(patch) else np.array([170, 130, 110], np.float32))
        colour, light = found[0], max(float(found[1] @ _LUMA), 1.0)
        return (colour / max(float(colour @ _LUMA), 1.0)).astype(np.float32), light

    def _level(self, light: np.ndarray, one: Lid) -> np.ndarray:
        """Per column, the light of the lid's lit skin: the lighter part of its skin band above the
        lashes, smoothed along the lid (where the band is thin, its neighbours decide)."""
        h, w = light.shape
        values = np.zeros(len(one.lid), np.float32)
        weight = np.zeros(len(one.lid), np.float32)
        for i, (x, bottom, height) in enumerate(zip(one.x0 + np.arange(len(one.lid)), one.lid - one.lashes,
                                                    one.skin, strict=True)):
            y0, y1 = int(max(0, np.floor(bottom - height))), int(min(h, round(bottom)))
            if 0 <= x < w and y1 > y0:
                values[i] = np.percentile(light[y0:y1, x], 50)
                weight[i] = y1 - y0
        sigma = max(2.0, 0.08 * self.eye_d)
        norm = cv2.GaussianBlur(weight[None], (0, 0), sigma)[0]
        level = cv2.GaussianBlur((values * weight)[None], (0, 0), sigma)[0] / np.maximum(norm, 1e-3)
        return np.where(norm > 1e-3, level, float(np.median(light))).astype(np.float32)

    def _lash_colour(self, rgb, light, one: Lid, level: np.ndarray) -> np.ndarray:
        """Per column, the lash line's colour: the darkest pixels along the lid's margin, at most half
        as light as the lid's skin."""
        e, (h, w) = self.eye_d, light.shape
        reach = max(1, round(0.03 * e))
        out = np.zeros((len(one.lid), 3), np.float32)
        for i in range(len(one.lid)):
            xa, xb = max(0, one.x0 + i - reach), min(w, one.x0 + i + reach + 1)
            ya = int(np.clip(round(one.lid[i] - 0.02 * e), 0, h - 1))
            yb = int(np.clip(round(one.lid[i] + 0.02 * e) + 1, ya + 1, h))
            values = light[ya:yb, xa:xb].ravel()
            if not len(values):
                out[i] = out[i - 1] if i else 60
                continue
            keep = values <= np.percentile(values, 25)
            out[i] = rgb[ya:yb, xa:xb].reshape(-1, 3)[keep].mean(axis=0)
        out = cv2.GaussianBlur(out[None], (0, 0), max(1.0, 0.03 * e))[0]
        darker = np.minimum(1.0, 0.5 * level / np.maximum(out @ _LUMA, 1.0))
        return (out * darker[:, None]).astype(np.float32)

    def _grain(self, rgb, one: Lid) -> np.ndarray:
        """Skin texture, relative (rows up from the lid's margin, columns, 3): the portrait's own skin
        under the eye mirrored about the closed lids' line, without its shading, as strong as the
        grain of the lid's own skin."""
        e, (h, w) = self.eye_d, rgb.shape[:2]
        rows = int(np.ceil(one.gap.max() + one.lashes.max() + one.skin.max())) + 4
        start = np.round(one.lid + one.gap + 0.03 * e).astype(int)
        ys = np.clip(start[None] + np.arange(rows)[:, None], 0, h - 1)
        xs = np.clip(one.x0 + np.arange(len(one.lid)), 0, w - 1)[None]
        patch = rgb[ys, xs]
        smooth = cv2.GaussianBlur(patch, (0, 0), max(1.5, 0.025 * e))
        grain = (patch - smooth) / np.maximum(smooth, 1.0)
        grain -= grain.mean(axis=1, keepdims=True)  # (no line across the whole lid)
        typical = _spread(grain @ _LUMA)
        # (not much grainier than the skin it is taken from: amplified threefold, a flash photo's
        # compression blocks under the eye showed as a chequered lid)
        scale = min(self._texture_of_lid(rgb, one), LID_GRAIN_MAX * typical) / typical
        limit = 2.5 * scale * typical
        return (limit * np.tanh(scale * grain / limit)).astype(np.float32)

    def _texture_of_lid(self, rgb: np.ndarray, one: Lid) -> float:
        """How grainy the lid's own skin band is (relative robust spread of its fine detail) over the
        middle of the eye."""
        e = self.eye_d
        n = len(one.lid)
        values = []
        for i in range(n // 4, 3 * n // 4):
            x = one.x0 + i
            y0, y1 = int(np.floor(one.crease[i])) - 2, int(np.round(one.lid[i] - one.lashes[i])) + 2
            if 0 <= x < rgb.shape[1] - 2 and x >= 2 and y0 >= 0 and y1 - y0 >= 5:
                patch = rgb[y0:y1, x - 2:x + 3]
                smooth = cv2.GaussianBlur(patch, (0, 0), max(1.5, 0.025 * e))
                values.append((((patch - smooth) / np.maximum(smooth, 1.0)) @ _LUMA)[2:-2, 2].ravel())
        if not values or len(np.concatenate(values)) < 12:
            return _GRAIN
        return float(np.clip(_spread(np.concatenate(values)), 0.5 * _GRAIN, 3 * _GRAIN))

    def paint(self, frame: np.ndarray, closing, shifts) -> None:
        """Set the light of both closing lids in place; closing amounts and (dx, dy) head shifts."""
        h, w = frame.shape[:2]
        e = self.eye_d
        lash_w = max(1.3, 0.02 * e)
        for one, level, lash, grain, tint, amount, (dx, dy) in zip(self.lids, self.levels, self.lashes, self.grain,
                                                                   self.tints, closing, shifts, strict=True):
            if amount < 0.02:
                continue
            half = max(0.5 * (len(one.lid) - 1) - 0.05 * e, 1.0)
            u = (np.arange(len(one.lid), dtype=np.float32) - 0.5 * (len(one.lid) - 1)) / half
            round_ = np.sqrt(np.clip(1 - u * u, 0, 1))
            crease, margin = one.crease + dy, one.lid + dy
            drop = amount * one.gap
            edge = margin + drop
            x0, x1 = max(0, one.x0 + dx), min(w, one.x1 + dx)
            # (rows below the lid too: the lash line's softening (below) reaches some pixels under its edge)
            y0, y1 = max(0, int(crease.min()) - 1), min(h, int(np.ceil(edge.max() + 4 * lash_w)) + 2)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            cols = slice(x0 - one.x0 - dx, x1 - one.x0 - dx)
            crease, margin, edge, drop, u, round_ = crease[cols], margin[cols], edge[cols], drop[cols], u[cols], \
                round_[cols]
            skin, level = one.skin[cols], level[cols]
            yy = np.arange(y0, y1, dtype=np.float32)[:, None]
            region = frame[y0:y1, x0:x1]
            rgb = region.astype(np.float32)
            # Where the lid's skin is (between the crease and the lash line), how much it is
            # stretched there, and where on the lid (t: 0 at the resting margin, 1 at the moving one).
            # (the lash band's upper part too: only a lash line's width of it stays as the photo has it)
            thick = lash_w * (0.55 + 0.45 * round_)
            on_skin = smoothstep((yy - crease) / np.maximum(0.4 * skin, 1.5))
            on_skin = on_skin * smoothstep((edge - 1.2 * thick - yy) / 1.5 + 0.5)
            fade = min(1.0, amount / 0.12) * smoothstep((1 - np.abs(u)) / 0.3)
            stretched = smoothstep((drop / np.maximum(skin, 1.0) - 0.3) / 1.0) * on_skin * fade
            soft = cv2.GaussianBlur(rgb, (0, 0), sigmaX=1.0, sigmaY=0.1)
            rgb += (soft - rgb) * stretched[..., None]
            # The light: the lid's lit skin, rounded over the eyeball, by shifting the light alone.
            t = np.clip((yy - margin) / np.maximum(edge - margin, 1.0), 0, 1)
            shade = 1.0 + 0.06 * (1 - u * u) - 0.32 * t ** 1.5 - 0.07 * u ** 4
            low = cv2.GaussianBlur(rgb @ _LUMA, (0, 0), max(1.5, 0.025 * e))
            goal = level[None] * shade
            # (above the resting lash line the lid is the photo's own, in the socket's shade: lit up
            # to the lid's level there too, a deep-set eye's closed lid swelled into a pale dome up to
            # the brow)
            lift = 0.15 + 0.55 * smoothstep((yy - margin) / np.maximum(0.35 * (edge - margin), 1.5))
            shift = np.clip(goal - low, -0.2 * goal, lift * goal) * on_skin * fade
            rgb += shift[..., None]
            # The skin's hue (the light stays): no grey or brown bruise where brow shade was stretched.
            hue = tint[None, None] * (rgb @ _LUMA)[..., None]
            rgb += (hue - rgb) * (0.35 * on_skin * fade)[..., None]
            # A glint above the lid (on a lens or a frame) is no skin: highlights are toned down.
            over = np.maximum((rgb @ _LUMA) / np.maximum(1.12 * goal, 1.0), 1.0)
            rgb /= (1 + (over - 1) * on_skin * fade)[..., None]
            # The skin's own grain over the lid (its stretch smoothed it), its fine detail only (no
            # shading of its own).
            r = np.clip(np.round(edge - yy).astype(int), 0, len(grain) - 1)
            texture = np.take_along_axis(grain[:, cols], r[..., None], axis=0)
            texture -= cv2.GaussianBlur(texture, (0, 0), max(1.5, 0.03 * e))  # (fine grain only, no shading)
            near_lashes = smoothstep((edge - 2.5 * thick - yy) / (2.0 * thick))  # (the lash line stays one line)
            rgb *= 1 + 1.6 * texture * (on_skin * fade * near_lashes)[..., None]
            # The photo's own lashes, slid down with the lid and squeezed thin by the time it is mostly
            # closed, are a crisp dark arc there (an outline drawn round the lid): softened across, as
            # lashes that fan out are (an open eye's lashes stay as the photo has them).
            band = np.exp(-0.5 * ((yy - (edge - 0.5 * thick)) / (1.2 * thick)) ** 2) * fade
            band *= float(smoothstep((amount - 0.3) / 0.5))
            across = cv2.GaussianBlur(rgb, (0, 0), sigmaX=0.1, sigmaY=0.8 * lash_w)
            rgb += (across - rgb) * band[..., None]
            # The lash line at the moving margin: thickest in the middle, thinning to the corners.
            ink = np.exp(-0.5 * ((yy - (edge - 0.5 * thick)) / np.maximum(0.5 * thick, 0.6)) ** 2)
            ink *= 0.6 * min(1.0, amount / 0.3) * smoothstep((1 - np.abs(u)) / 0.3)
            rgb += (lash[cols][None] - rgb) * ink[..., None]
            region[:] = (rgb + 0.5).clip(0, 255).astype(np.uint8)
