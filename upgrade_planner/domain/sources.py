"""Where a source the plan cites can be read: the public page of a docs path, an issue's page.

Sources are written the way the facts file cites them: a path in the OctopusDeploy/docs
repository (`docs/…md` in its older layout, `src/pages/docs/…md(x)` in the current one, or a
shared-content include), `Issues#N` for the OctopusDeploy/Issues tracker, or an address on
octopus.com. The docs site publishes `src/pages/docs/<path>.mdx` (and the older
`docs/<path>.md`) at https://octopus.com/docs/<path>, an `index` page at its folder's address.
An include (`….include.md`, anything under `shared-content/`) is pasted into other pages and
has no page of its own, so it links to the file on GitHub.
"""

from __future__ import annotations

import re
from urllib.parse import quote

DOCS_SITE = "https://octopus.com/docs"
DOCS_REPOSITORY = "https://github.com/OctopusDeploy/docs/blob/HEAD"
ISSUES = "https://github.com/OctopusDeploy/Issues/issues"

_ISSUE = re.compile(r"(?:OctopusDeploy/)?Issues#(\d+)")
# A file in another OctopusDeploy repository: "OctopusDeploy/<repository>/<path>".
_REPOSITORY_FILE = re.compile(r"OctopusDeploy/([\w.-]+)/(\S+)")
_PAGE_SUFFIX = re.compile(r"\.mdx?$")
_SITE = re.compile(r"(?:https?://)?octopus\.com(/[^\s]*)?")
# Between two sources in one citation ("a.md; b.mdx", "Issues#7427, Issues#2668").
_BETWEEN = re.compile(
    r"\s*[;,]\s+(?=(?:src/|docs/|Issues#|OctopusDeploy/|(?:https?://)?octopus\.com))"
)


def cited(source: str) -> list[str]:
    """The sources one citation names, in order: a rule may cite several pages."""
    return [part for part in _BETWEEN.split(source.strip()) if part]


def source_url(source: str) -> str | None:
    """The public address of `source`, or None when it names nothing we can link to."""
    source = source.strip()
    if match := _ISSUE.fullmatch(source):
        return f"{ISSUES}/{match.group(1)}"
    if (match := _REPOSITORY_FILE.fullmatch(source)) and ".." not in match.group(2).split("/"):
        return (
            f"https://github.com/OctopusDeploy/{match.group(1)}/blob/HEAD/{quote(match.group(2))}"
        )
    if match := _SITE.fullmatch(source):
        return f"https://octopus.com{quote(match.group(1) or '/')}"
    if not _PAGE_SUFFIX.search(source) or ".." in source.split("/"):
        return None
    if source.endswith(".include.md") or "/shared-content/" in f"/{source}":
        if source.startswith(("docs/", "src/")):
            return f"{DOCS_REPOSITORY}/{quote(source)}"
        return None
    for root in ("src/pages/docs/", "docs/"):
        if source.startswith(root):
            page = _PAGE_SUFFIX.sub("", source.removeprefix(root))
            page = page.removesuffix("/index") if page != "index" else ""
            return f"{DOCS_SITE}/{quote(page)}" if page else DOCS_SITE
    return None
