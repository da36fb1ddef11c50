"""Comments rendered as Markdown, safely: CommonMark by markdown-it-py with raw HTML off, images off, links only
to http(s) and mailto (`rel="nofollow noopener noreferrer"`), nesting capped, and the input cut at a settings
limit so a huge comment costs bounded time. Everything else stays escaped text."""

from __future__ import annotations

from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"
MAX_NESTING = 20


def allowed_link(url: str) -> bool:
    """http(s) with a host, or mailto; never `javascript:`, `data:`, `vbscript:` or a relative address."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme not in LINK_SCHEMES:
        return False
    return bool(parts.path) if scheme == "mailto" else bool(parts.hostname)


def _link_open(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("rel", LINK_REL)
    return str(self.renderToken(tokens, idx, options, env))


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False,
                                   "maxNesting": MAX_NESTING})
    md.disable(["image", "html_inline", "html_block"])
    md.validateLink = allowed_link  # type: ignore[method-assign]
    md.add_render_rule("link_open", _link_open)
    return md


def render_markdown(text: str, max_chars: int) -> Markup:
    """`text` as HTML. Raw HTML in it is shown as text, links outside the allowed schemes stay plain text."""
    cut = len(text) > max_chars
    html = _parser().render(text[:max_chars])
    if cut:
        html += f'<p class="cut">(The comment is longer than {max_chars} characters; the rest is not shown.)</p>'
    return Markup(html)  # noqa: S704 - produced by the sanitising renderer above, not taken from input
