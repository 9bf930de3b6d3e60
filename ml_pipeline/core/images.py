"""Plots as PNG bytes, and PNGs embedded in Markdown or HTML, for the UI and the reports."""

from __future__ import annotations

import base64
import html
import io


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend: workers have no display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(figure: object) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72, bbox_inches="tight")
    pyplot().close(figure)
    return buffer.getvalue()


def data_uri(image: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(image).decode()}"


def markdown_images(plots: dict[str, bytes]) -> str:
    return "\n\n".join(f"![{name}]({data_uri(image)})" for name, image in plots.items())


def html_images(plots: dict[str, bytes]) -> str:
    return "".join(
        f'<h2>{html.escape(name)}</h2><img alt="{html.escape(name)}" src="{data_uri(image)}">'
        for name, image in plots.items()
    )
