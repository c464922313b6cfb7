"""The product's pure domain: vocabulary, versions, step lifecycle rules, the planner and its
content, the inventory parser and diff, the evidence parsers and the rollback card.

Nothing here imports Django, touches the database or does I/O beyond reading this package's
own content files; `tests/domain/test_purity.py` keeps it so.
"""
