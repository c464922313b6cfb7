import pytest


@pytest.mark.django_db
def test_home_page_says_what_the_product_does(client):
    response = client.get("/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "Octopus Upgrade Planner" in body
    assert "htmx" in body  # the htmx script is served from our own static files
    assert 'hx-headers=\'{"X-CSRFToken": "' in body


@pytest.mark.django_db
def test_pages_send_a_strict_content_security_policy_and_referrer_policy(client):
    response = client.get("/")

    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.django_db
def test_migrations_are_complete():
    """Fails when a model change has no migration."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # makemigrations --check exits 1 when something is missing
        pytest.fail(f"Missing migrations:\n{out.getvalue()}" if exc.code else out.getvalue())
