"""Render part of a rendered diagram SVG (x from..to) to PNG for a closer look."""
import re
import subprocess
import sys

name, x0, x1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
svg = open(f"/tmp/bpmn_png/{name}.svg", encoding="utf-8").read()
vb = re.search(r'viewBox="([-\d. ]+)"', svg).group(1).split()
y, h = float(vb[1]), float(vb[3])
svg = re.sub(r'viewBox="[-\d. ]+"', f'viewBox="{x0} {y} {x1 - x0} {h}"', svg, count=1)
svg = re.sub(r'(<svg[^>]*?)\swidth="[^"]*"', r'\1', svg, count=1)
svg = re.sub(r'(<svg[^>]*?)\sheight="[^"]*"', r'\1', svg, count=1)
svg = svg.replace("<svg", f'<svg width="{x1 - x0}" height="{h}"', 1)
open(f"/tmp/bpmn_png/{name}_crop.svg", "w", encoding="utf-8").write(svg)
subprocess.run(["rsvg-convert", "-o", f"/tmp/bpmn_png/{name}_crop.png", f"/tmp/bpmn_png/{name}_crop.svg"], check=True)
