"""Render bpmn/*.bpmn to PNG with the engine's renderer (for looking at the layout)."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from engine.rendering import render_svg  # noqa: E402


def main(names):
    out_dir = Path("/tmp/bpmn_png")
    out_dir.mkdir(exist_ok=True)
    for name in names:
        svg = render_svg((REPO / "bpmn" / f"{name}.bpmn").read_bytes())
        svg_path = out_dir / f"{name}.svg"
        svg_path.write_text(svg, encoding="utf-8")
        subprocess.run(["rsvg-convert", "-o", str(out_dir / f"{name}.png"), str(svg_path)], check=True)
        print(out_dir / f"{name}.png")


if __name__ == "__main__":
    main(sys.argv[1:])
