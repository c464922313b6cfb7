"""The JSON API under /api/v1/ (django-ninja), described by /api/v1/openapi.json."""
