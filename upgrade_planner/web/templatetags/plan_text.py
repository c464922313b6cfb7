"""Step details are plain text with ``` fenced commands and `inline code`; render them safely."""

import functools
import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from upgrade_planner.domain.sources import cited, source_url

register = template.Library()

_FENCE = re.compile(r"```[a-zA-Z]*\n?(.*?)```", re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")


def _prose(text: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    html = []
    for paragraph in paragraphs:
        lines = paragraph.splitlines()
        if all(re.match(r"^\s*(?:[-*]|\d+\.)\s+", line) for line in lines):
            ordered = re.match(r"^\s*\d+\.", lines[0]) is not None
            items = "".join(
                f"<li>{_inline(re.sub(r'^\s*(?:[-*]|\d+\.)\s+', '', line))}</li>" for line in lines
            )
            html.append(f"<{'ol' if ordered else 'ul'}>{items}</{'ol' if ordered else 'ul'}>")
        else:
            html.append(f"<p>{'<br>'.join(_inline(line) for line in lines)}</p>")
    return "".join(html)


def _inline(text: str) -> str:
    escaped = str(escape(text))
    escaped = _INLINE.sub(r"<code>\1</code>", escaped)
    return _BOLD.sub(r"<strong>\1</strong>", escaped)


@register.filter
def step_detail(text: str) -> SafeString:
    """Paragraphs, lists, `code` and ``` blocks; everything else escaped."""
    return _step_detail(text or "")


# Most details come from the step catalogue, so every plan page shows the same few hundred.
@functools.lru_cache(maxsize=2048)
def _step_detail(text: str) -> SafeString:
    html, last = [], 0
    for match in _FENCE.finditer(text):
        html.append(_prose(text[last : match.start()]))
        html.append(f'<pre class="command"><code>{escape(match.group(1).rstrip())}</code></pre>')
        last = match.end()
    html.append(_prose(text[last:]))
    return mark_safe("".join(html))  # noqa: S308 - every piece of user text is escaped above


@register.filter
def get_item(mapping: dict[str, str], key: str) -> str:
    return mapping.get(key, key)


@register.filter
def source_link(source: str) -> SafeString:
    """A cited source as a link to its public page, opened in a new tab (as code if it has
    none); a citation of several sources links each."""
    return mark_safe(  # noqa: S308 - each part is escaped by _one_source_link
        "; ".join(_one_source_link(part) for part in cited(source or "")) or "<code></code>"
    )


def _one_source_link(source: str) -> str:
    text = f"<code>{escape(source)}</code>"
    url = source_url(source)
    if url is None:
        return text
    return (
        f'<a href="{escape(url)}" target="_blank" rel="noopener">{text}'
        '<span class="visually-hidden"> (opens in a new tab)</span></a>'
    )
