# What an HTML report shows, as JSON for test/t/report_html.t: its inline SVG charts (each parsed as XML),
# their labels, bar widths, cell notes and line points, the metrics table, and, given the DOM chromium
# serialised and its screenshot, the charts the browser built and how many pixels have each chart colour.
# Usage: report_html_facts.py report.html [dom.html screenshot.png]
import json
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

html = open(sys.argv[1], encoding="utf-8").read()
facts = {"svgs": []}
for block in re.findall(r"<svg\b.*?</svg>", html, flags=re.S):
    root = ET.fromstring(block)  # raises on anything not well-formed
    kind = root.get("class").split()[-1]
    svg = {"kind": kind}
    if kind == "bars":
        svg["labels"] = [t.text or "" for t in root.iter("text") if t.get("text-anchor") == "end"]
        svg["widths"] = [int(r.get("width")) for r in root.iter("rect")]
        svg["notes"] = [t.text or "" for t in root.iter("text") if t.get("text-anchor") is None]
    elif kind == "heat":
        svg["cells"] = [t.text for t in root.iter("text") if t.get("class") == "cell"]
        svg["fills"] = [r.get("fill") for r in root.iter("rect")]
    elif kind == "lines":
        svg["series"] = [p.find("title").text for p in root.iter("polyline")]
        svg["points"] = [[tuple(map(float, xy.split(","))) for xy in p.get("points").split()] for p in root.iter("polyline")]
        svg["marker"] = any(l.get("stroke-dasharray") for l in root.iter("line"))
    facts["svgs"].append(svg)


class Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(self.cell)
            self.cell = None


table = Cells()
table.feed(html)
facts["table"] = table.rows
facts["h2"] = re.findall(r"<h2>(.*?)</h2>", html)

if len(sys.argv) > 3:
    dom = open(sys.argv[2], encoding="utf-8").read()
    facts["dom_svgs"] = len(re.findall(r"<svg\b", dom))
    facts["dom_polylines"] = len(re.findall(r"<polyline\b", dom))
    from PIL import Image
    image = Image.open(sys.argv[3]).convert("RGB")
    facts["screenshot"] = list(image.size)
    counts = {}
    for count, colour in image.getcolors(maxcolors=1 << 24):
        counts["#%02x%02x%02x" % colour] = count
    facts["pixels"] = {c: counts.get(c, 0) for c in ("#4e79a7", "#f28e2b", "#59a14f", "#08519c", "#eeeeee")}
print(json.dumps(facts))
