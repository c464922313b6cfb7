"""Every URL answers with the security headers, whatever it returns."""

import re

import pytest
from django.urls import get_resolver
from django.urls.resolvers import URLPattern, URLResolver

from tests.factories import create_plan
from upgrade_planner.plans.models import Step

pytestmark = pytest.mark.django_db


def all_patterns(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith("admin/"):
                continue
            yield from all_patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern)


def concrete(pattern, *, token, step_id):
    return "/" + (
        pattern.replace("<str:token>", token)
        .replace("<uuid:step_id>", str(step_id))
        .replace("<str:step_id>", str(step_id))
        .replace("{token}", token)
        .replace("{step_id}", str(step_id))
        .replace("<str:kind>", "view")
        .replace("<str:action>", "start")
        .replace("{action}", "start")
        .replace("^", "")
        .replace("$", "")
    )


def test_every_url_sends_the_security_headers(client):
    created = create_plan()
    step = Step.objects.filter(plan=created.plan).first()
    urls = sorted({concrete(p, token=created.edit_token, step_id=step.id) for p in all_patterns()})
    urls += ["/admin/", "/does-not-exist", f"/p/{'x' * 43}/"]
    assert "/api/v1/openapi.json" in urls and "/healthz" in urls

    for url in urls:
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code < 500, (method, url)
            csp = response.get("Content-Security-Policy", "")
            if response["Content-Type"].startswith("text/html"):
                assert "default-src 'self'" in csp, url
                assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, url
            assert response["Referrer-Policy"] == "same-origin", url
            assert response["X-Content-Type-Options"] == "nosniff", url
            assert response["X-Frame-Options"] == "DENY", url
            if url.startswith(("/p/", "/v/", "/api/v1/plans/")):
                assert response["X-Robots-Tag"] == "noindex, nofollow", url


# The one kind of address a page may name off the site: a source's link to its public docs
# page, issue or file, opened in a new tab (and sent no referrer: SECURE_REFERRER_POLICY).
SOURCE_LINK = re.compile(
    r'<a href="https://(?:octopus\.com/|github\.com/OctopusDeploy/)[^"]*" target="_blank" '
    r'rel="noopener">'
)


def test_no_page_links_to_a_third_party_resource(client):
    created = create_plan()

    for url in ("/", f"/p/{created.edit_token}/", f"/v/{created.view_token}/"):
        body = client.get(url).content.decode()
        for attribute in ('src="http', "src='http", 'href="http', "@import"):
            for line in body.splitlines():
                if attribute in SOURCE_LINK.sub("", line):
                    assert "testserver" in line, (url, line.strip())
