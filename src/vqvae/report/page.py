"""The page: one HTML file with its style inside, no script, nothing fetched. Sections are
HTML fragments made by the helpers below (figures, tables, images, sound players)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

STYLE = """
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1200px; color: #222; background: #fafafa; }
h1 { font-size: 24px; margin-bottom: 4px; }
h2 { font-size: 19px; border-bottom: 2px solid #1f77b4; padding-bottom: 3px; margin-top: 32px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.sub { color: #555; margin-top: 0; }
.row { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
figure { margin: 0; background: white; border: 1px solid #ddd; padding: 6px; }
figcaption { font-size: 12px; color: #444; margin-top: 4px; max-width: 520px; }
table { border-collapse: collapse; font-size: 12px; background: white; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }
th { background: #eef3f8; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 6px 10px;
        font-size: 13px; }
pre { background: white; border: 1px solid #ddd; padding: 8px; font-size: 12px;
      white-space: pre-wrap; max-height: 420px; overflow: auto; }
img.pix { image-rendering: pixelated; }
audio { width: 260px; display: block; }
.cols { display: grid; grid-template-columns: repeat(auto-fill, minmax(270px, 1fr)); gap: 12px; }
"""


@dataclass
class Section:
    """One part of the page: a heading and its HTML."""

    title: str
    body: str
    anchor: str = ""


def render(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole page: title, a table of contents, the sections."""
    toc = " &middot; ".join(
        f"<a href='#{s.anchor or _anchor(s.title)}'>{escape(s.title)}</a>" for s in sections
    )
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1><p class='sub'>{escape(subtitle)}</p><p>{toc}</p>",
    ]
    for s in sections:
        parts.append(f"<h2 id='{s.anchor or _anchor(s.title)}'>{escape(s.title)}</h2>{s.body}")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def figure(content: str, caption: str = "") -> str:
    """A framed figure (an inline ``<svg>`` or an ``<img>``) with a caption."""
    cap = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f"<figure>{content}{cap}</figure>"


def image(uri: str, alt: str, width: int | None = None, pixelated: bool = False) -> str:
    size = f" width='{width}'" if width else ""
    cls = " class='pix'" if pixelated else ""
    return f"<img src='{uri}' alt='{escape(alt)}'{size}{cls}>"


def audio(uri: str, label: str) -> str:
    return (
        f"<div><div style='font-size:12px'>{escape(label)}</div>"
        f"<audio controls preload='none' src='{uri}'></audio></div>"
    )


def row(items: Iterable[str]) -> str:
    return "<div class='row'>" + "".join(items) + "</div>"


def note(text: str) -> str:
    return f"<p class='note'>{escape(text)}</p>"


def paragraph(text: str) -> str:
    return f"<p>{escape(text)}</p>"


def heading(text: str) -> str:
    return f"<h3>{escape(text)}</h3>"


def pre(text: str) -> str:
    return f"<pre>{escape(text)}</pre>"


def table(rows: Sequence[Sequence[object]], header: Sequence[str] | None = None) -> str:
    """A table of texts (numbers formatted with ``cell``)."""
    head = ""
    if header:
        head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>"
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell(v))}</td>" for v in r) + "</tr>" for r in rows
    )
    return f"<table>{head}{body}</table>"


def cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def flatten(config: dict, prefix: str = "") -> list[tuple[str, object]]:
    """A nested config as (dotted.key, value) rows, None values left out."""
    out: list[tuple[str, object]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out += flatten(value, name + ".")
        elif value is not None:
            out.append((name, value))
    return out
