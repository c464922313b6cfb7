"""Every cited source links to where it can be read (facts file's citation convention)."""

import tomllib
from importlib import resources

import pytest

from upgrade_planner.domain.sources import cited, source_url


@pytest.mark.parametrize(
    ("source", "url"),
    [
        (
            "src/pages/docs/administration/upgrading/index.mdx",
            "https://octopus.com/docs/administration/upgrading",
        ),
        (
            "src/pages/docs/administration/upgrading/guide/upgrading-major-releases.mdx",
            "https://octopus.com/docs/administration/upgrading/guide/upgrading-major-releases",
        ),
        (
            "docs/administration/upgrading/upgrading-from-octopus-2.6/backup-2.6.md",
            "https://octopus.com/docs/administration/upgrading/upgrading-from-octopus-2.6/backup-2.6",
        ),
        ("src/pages/docs/deprecations/index.md", "https://octopus.com/docs/deprecations"),
        (
            "docs/administration/upgrading/upgrading-from-octopus-2.6/"
            "in-place-upgrade-(install-over-2.6).md",
            "https://octopus.com/docs/administration/upgrading/upgrading-from-octopus-2.6/"
            "in-place-upgrade-%28install-over-2.6%29",
        ),
    ],
)
def test_a_docs_path_links_to_its_public_page(source, url):
    assert source_url(source) == url


@pytest.mark.parametrize(
    "source",
    [
        "src/shared-content/upgrade/upgrade-high-availability.include.md",
        "docs/shared-content/upgrade/upgrade-octopus-backup-master-key.include.md",
        "docs/administration/upgrading/upgrading-from-octopus-2.6/using-hydra.include.md",
    ],
)
def test_an_include_has_no_page_of_its_own_and_links_to_its_file(source):
    assert source_url(source) == f"https://github.com/OctopusDeploy/docs/blob/HEAD/{source}"


def test_an_issue_links_to_the_issue_tracker():
    assert source_url("Issues#7128") == "https://github.com/OctopusDeploy/Issues/issues/7128"
    assert source_url(" Issues#42 ") == "https://github.com/OctopusDeploy/Issues/issues/42"


def test_an_octopus_address_links_to_itself():
    assert source_url("octopus.com/downloads/compare") == "https://octopus.com/downloads/compare"


@pytest.mark.parametrize(
    "source",
    ["", "{source}", "Issues#", "Issues#12x", "notes.txt", "docs/../../etc/passwd.md", "x.md"],
)
def test_what_names_no_page_gets_no_link(source):
    assert source_url(source) is None


def _sources(value: object) -> list[str]:
    if isinstance(value, dict):
        found = [v for k, v in value.items() if k in ("source", "legacy_source", "sources")]
        flat = [s for v in found for s in (v if isinstance(v, list) else [v])]
        return flat + [s for v in value.values() for s in _sources(v)]
    if isinstance(value, list):
        return [s for v in value for s in _sources(v)]
    return []


def test_every_source_in_the_content_files_has_a_link():
    content = resources.files("upgrade_planner.domain.content")
    sources = {
        source
        for name in (
            "steps.toml",
            "catalogue.toml",
            "rollback.toml",
            "estimates.toml",
            "readiness.toml",
        )
        for citation in _sources(tomllib.loads(content.joinpath(name).read_text("utf-8")))
        # A rule citing the catalogue entry it applies fills these in from that entry.
        if isinstance(citation, str) and citation not in {"", "{source}", "{source}; {tracked_in}"}
        for source in cited(citation)
    }

    assert sources
    assert [source for source in sorted(sources) if source_url(source) is None] == []


@pytest.mark.parametrize(
    ("citation", "parts"),
    [
        (
            "src/pages/docs/support/compatibility.md; "
            "src/pages/docs/administration/upgrading/index.mdx",
            [
                "src/pages/docs/support/compatibility.md",
                "src/pages/docs/administration/upgrading/index.mdx",
            ],
        ),
        ("Issues#7427, Issues#2668", ["Issues#7427", "Issues#2668"]),
        ("Issues#9145; OctopusDeploy/Issues#9145", ["Issues#9145", "OctopusDeploy/Issues#9145"]),
        ("docs/installation/requirements.md", ["docs/installation/requirements.md"]),
        ("octopus.com/downloads/compare", ["octopus.com/downloads/compare"]),
        (
            "OctopusDeploy/OctopusClients/source/A.cs; OctopusDeploy/OctopusClients/source/B.cs",
            [
                "OctopusDeploy/OctopusClients/source/A.cs",
                "OctopusDeploy/OctopusClients/source/B.cs",
            ],
        ),
    ],
)
def test_a_rule_citing_two_pages_links_each_of_them(citation, parts):
    assert cited(citation) == parts
    assert all(source_url(part) for part in parts)
