"""Helpers shared by the run-report tests: read a report page back with html.parser."""

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Dict, List, Optional, Tuple


@dataclass
class Plot:
    """What one metric's figure holds."""

    heading: str = ""
    svg_title: str = ""
    has_svg: bool = False
    line_points: int = 0
    x_labels: List[str] = field(default_factory=list)
    y_labels: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)


@dataclass
class Page:
    """The parts of a report page the tests check."""

    title: str = ""
    table_header: List[str] = field(default_factory=list)
    table_rows: Dict[str, List[str]] = field(default_factory=dict)
    plots: Dict[str, Plot] = field(default_factory=dict)
    tags: List[str] = field(default_factory=list)
    links: List[Tuple[str, str]] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self._stack: List[Tuple[str, Dict[str, Optional[str]]]] = []
        self._plot: Optional[Plot] = None
        self._row: Optional[List[str]] = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        attr = dict(attrs)
        self.page.tags.append(tag)
        self.page.links += [(k, v or "") for k, v in attrs if k in ("src", "href")]
        if tag == "figure":
            self._plot = self.page.plots.setdefault(attr["data-metric"] or "", Plot())
        if tag == "svg" and self._plot is not None:
            self._plot.has_svg = True
        if tag == "polyline" and self._plot is not None:
            self._plot.line_points = len((attr["points"] or "").split())
        if tag == "tr":
            self._row = []
        if tag not in ("line", "polyline", "circle", "path", "meta"):  # void or self-closed
            self._stack.append((tag, attr))
            self._text = ""

    def handle_endtag(self, tag: str) -> None:
        if not self._stack or self._stack[-1][0] != tag:
            return
        _, attr = self._stack.pop()
        text = self._text.strip()
        self._text = ""
        plot = self._plot
        if tag == "title" and plot is None:
            self.page.title = text
        elif tag in ("th", "td") and self._row is not None:
            self._row.append(text)
        elif tag == "tr" and self._row:
            if self._stack and self._stack[-1][0] == "thead":
                self.page.table_header = self._row
            else:
                self.page.table_rows[self._row[0]] = self._row[1:]
        elif plot is not None:
            if tag == "h2":
                plot.heading = text
            elif tag == "title":
                plot.svg_title = text
            elif tag == "p":
                plot.notes.append(text)
            elif tag == "text" and attr.get("text-anchor") == "end":
                plot.y_labels.append(text)
            elif tag == "text" and text != "step":
                plot.x_labels.append(text)
            elif tag == "figure":
                self._plot = None

    def handle_data(self, data: str) -> None:
        self._text += data


def parse_report(path: str) -> Page:
    """Parse the report at ``path``."""
    parser = _Parser()
    with open(path, encoding="utf-8") as f:
        parser.feed(f.read())
    return parser.page
