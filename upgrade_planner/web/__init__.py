"""The HTML side: views, the plan page's presenter, page caching, charts and template tags."""
