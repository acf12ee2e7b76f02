"""Pixel drawing for the result pictures, on Pillow alone.

A run draws its overview in a few tens of milliseconds this way; a plotting library's
import and layout engine took longer than the rest of the export together.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

Colour = tuple[float, float, float]

# ColorBrewer's 11-class red-blue diverging scheme, from its red end to its blue end
RED_BLUE = np.array([
    (0x67, 0x00, 0x1F), (0xB2, 0x18, 0x2B), (0xD6, 0x60, 0x4D), (0xF4, 0xA5, 0x82), (0xFD, 0xDB, 0xC7),
    (0xF7, 0xF7, 0xF7), (0xD1, 0xE5, 0xF0), (0x92, 0xC5, 0xDE), (0x43, 0x93, 0xC3), (0x21, 0x66, 0xAC),
    (0x05, 0x30, 0x61),
]) / 255.0


def red_blue(fraction: np.ndarray, reverse: bool = False) -> np.ndarray:
    """RGB (0-1) of the red-blue scale at ``fraction`` 0..1 (red at 0 unless ``reverse``)."""
    anchors = RED_BLUE[::-1] if reverse else RED_BLUE
    position = np.clip(np.nan_to_num(fraction), 0.0, 1.0) * (len(anchors) - 1)
    steps = np.linspace(0.0, len(anchors) - 1.0, len(anchors))
    return np.stack([np.interp(position, steps, anchors[:, channel]) for channel in range(3)], axis=-1)


def rgb8(colour: Colour, alpha: float = 1.0) -> tuple[int, ...]:
    """A 0-1 colour as Pillow's 0-255 tuple, with alpha when it is not opaque."""
    channels = tuple(int(round(255 * value)) for value in colour)
    return channels if alpha >= 1.0 else (*channels, int(round(255 * alpha)))


def hex_colour(text: str) -> Colour:
    value = int(text.lstrip("#"), 16)
    return ((value >> 16) / 255.0, ((value >> 8) & 255) / 255.0, (value & 255) / 255.0)


def picture_of(rgb: np.ndarray, size: tuple[int, int]) -> Image.Image:
    """An RGB array (0-1) scaled to ``size`` (width, height), each voxel a sharp block."""
    pixels = np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").resize(size, Image.Resampling.NEAREST)


@lru_cache(maxsize=None)
def font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's own scalable font: no font file of the system is needed."""
    return ImageFont.load_default(size=size)


def text(draw: ImageDraw.ImageDraw, anchor_point: tuple[float, float], words: str, size: int,
         colour: Colour, anchor: str = "mm", bold: bool = False) -> None:
    """``words`` at ``anchor_point`` with Pillow's anchor code ("lt": left top, "mm": middle)."""
    stroke = 1 if bold else 0
    fill = rgb8(colour)
    draw.text(anchor_point, words, font=font(size), fill=fill, anchor=anchor, stroke_width=stroke, stroke_fill=fill)


def upright_text(picture: Image.Image, centre: tuple[float, float], words: str, size: int, colour: Colour,
                 background: Colour) -> None:
    """``words`` turned a quarter to read bottom to top, centred at ``centre``."""
    width, height = (int(np.ceil(value)) + 4 for value in font(size).getbbox(words)[2:])
    strip = Image.new("RGB", (width, height), rgb8(background))
    text(ImageDraw.Draw(strip), (width / 2, height / 2), words, size, colour)
    turned = strip.rotate(90, expand=True)
    picture.paste(turned, (int(round(centre[0] - turned.width / 2)), int(round(centre[1] - turned.height / 2))))


def dashed_line(draw: ImageDraw.ImageDraw, start: tuple[float, float], end: tuple[float, float],
                colour: tuple[int, ...], dash: float, gap: float, width: int = 1) -> None:
    """A straight dashed line; Pillow draws solid lines only."""
    start_point, end_point = np.asarray(start, float), np.asarray(end, float)
    length = float(np.linalg.norm(end_point - start_point))
    if length == 0.0:
        return
    direction = (end_point - start_point) / length
    for offset in np.arange(0.0, length, dash + gap):
        stop = min(offset + dash, length)
        a, b = start_point + offset * direction, start_point + stop * direction
        draw.line([tuple(a), tuple(b)], fill=colour, width=width)


def outline(picture: Image.Image, mask: np.ndarray, colour: Colour, width: int) -> None:
    """The border of ``mask`` (scaled to the picture like its voxels), ``width`` pixels thick, inside it."""
    if not mask.any() or mask.all():
        return
    scaled = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(picture.size, Image.Resampling.NEAREST))
    inside = scaled > 127
    border = inside & ~ndimage.binary_erosion(inside, iterations=width, border_value=1)
    pixels = np.asarray(picture).copy()
    pixels[border] = rgb8(colour)
    picture.paste(Image.fromarray(pixels, "RGB"))
