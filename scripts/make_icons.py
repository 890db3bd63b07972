"""Make the app icons from the one drawing in web/icons/source.svg.

    pip install cairosvg pillow     # cairosvg needs the cairo library (Debian: libcairo2)
    python scripts/make_icons.py

Writes icon-192/512.png (rounded, purpose "any"), maskable-192/512.png (full bleed, the
drawing already sits inside the maskable safe zone) and apple-touch-icon.png (180, full
bleed: iOS rounds it itself). The PNGs are committed; run this again after editing the SVG.
"""

import io
import re
from pathlib import Path

import cairosvg
from PIL import Image

ICONS = Path(__file__).resolve().parent.parent / "web" / "icons"
SOURCE = ICONS / "source.svg"
ROUNDED_RX = "112"  # corner radius of the "any" icons, in the drawing's 512 units

OUTPUTS = {
    "icon-192.png": (192, True),
    "icon-512.png": (512, True),
    "maskable-192.png": (192, False),
    "maskable-512.png": (512, False),
    "apple-touch-icon.png": (180, False),
}


def variant(svg: str, rounded: bool) -> str:
    """The drawing with a rounded background (any) or a full-bleed one (maskable, iOS)."""
    if not rounded:
        return svg
    return re.sub(r'(<rect id="bg"[^>]*?)rx="0"', rf'\1rx="{ROUNDED_RX}"', svg, count=1)


def main() -> None:
    svg = SOURCE.read_text()
    for name, (size, rounded) in OUTPUTS.items():
        png = cairosvg.svg2png(
            bytestring=variant(svg, rounded).encode(), output_width=size, output_height=size
        )
        # A 256-colour palette is invisible on a flat drawing and halves the shell's icon bytes.
        image = Image.open(io.BytesIO(png)).quantize(256, method=Image.Quantize.FASTOCTREE)
        image.save(ICONS / name, optimize=True)
        print(f"{name}: {size}x{size}")


if __name__ == "__main__":
    main()
