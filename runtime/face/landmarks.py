"""Named regions of the MediaPipe 468-point face mesh (indices), used by enrollment and the rig."""

from __future__ import annotations

LIPS_UPPER_INNER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LIPS_LOWER_INNER = [308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78]
LIPS_UPPER_OUTER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LIPS_LOWER_OUTER = [291, 375, 321, 405, 314, 17, 84, 181, 91, 146, 61]
MOUTH_CORNERS = [61, 291, 78, 308]
INNER_MOUTH = LIPS_UPPER_INNER + LIPS_LOWER_INNER[1:-1]
"""Polygon of the inner lip contour, upper lip left to right then lower lip right to left."""

# Eyes (subject's right eye is on the image's left). Upper lid points pair with lower lid points.
RIGHT_EYE_UPPER = [246, 161, 160, 159, 158, 157, 173]
RIGHT_EYE_LOWER = [7, 163, 144, 145, 153, 154, 155]
RIGHT_EYE_CORNERS = [33, 133]
LEFT_EYE_UPPER = [466, 388, 387, 386, 385, 384, 398]
LEFT_EYE_LOWER = [249, 390, 373, 374, 380, 381, 382]
LEFT_EYE_CORNERS = [263, 362]
RIGHT_EYE = [33, *RIGHT_EYE_UPPER, 133, *reversed(RIGHT_EYE_LOWER)]
LEFT_EYE = [263, *LEFT_EYE_UPPER, 362, *reversed(LEFT_EYE_LOWER)]

RIGHT_BROW = [70, 63, 105, 66, 107, 46, 53, 52, 65, 55]
LEFT_BROW = [300, 293, 334, 296, 336, 276, 283, 282, 295, 285]
RIGHT_BROW_INNER = [107, 66, 55, 65]
LEFT_BROW_INNER = [336, 296, 285, 295]

FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
CHIN = 152
NOSE_TIP = 1
FOREHEAD = 10
CHEEKS = [234, 454]
