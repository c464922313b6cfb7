"""The Hydra Server Mapping: building and validating it (facts §c.4)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from upgrade_planner.domain.planning.types import PlanningError
from upgrade_planner.domain.versions import quoted

_ADDRESS_RE = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\[\]]+)"
    r"(?::(?P<port>[0-9]*))?(?P<path>/.*)?",
    re.ASCII,
)
_HOST_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?", re.ASCII)


def _address_errors(address: str, *, in_pair: bool, context: str = "") -> list[str]:
    where = f"In {context}, the" if context else "The"
    shown = quoted(address)
    match = _ADDRESS_RE.fullmatch(address)
    if match is None:
        return [
            f"{where} address {shown} is not scheme://host:port "
            "(for example https://octopus3.corp:10943)."
        ]
    errors = []
    if match["scheme"].lower() not in ("http", "https"):
        errors.append(f"{where} address {shown} must start with https:// or http://.")
    host = match["host"]
    if not host.startswith("[") and _HOST_RE.fullmatch(host) is None:
        errors.append(f"{where} address {shown} has an invalid host name {quoted(host)}.")
    port = match["port"]
    if not port:
        errors.append(
            f"{where} address {shown} has no port: add the polling port, as in "
            "https://octopus3.corp:10943."
        )
    elif not 1 <= int(port) <= 65535:
        errors.append(f"{where} address {shown} has port {port}; ports run from 1 to 65535.")
    path = match["path"] or ""
    if path not in ("", "/"):
        errors.append(
            f"{where} address {shown} has a path {quoted(path)}: give scheme://host:port."
        )
    elif in_pair and path != "/":
        errors.append(f'{where} address {shown} needs a trailing "/" (required in old=>new pairs).')
    return errors


def validate_server_mapping(text: str) -> list[str]:
    """Problems with a Hydra Server Mapping, each naming the bad piece; [] when it is valid.

    Blank is valid (listening Tentacles only). Otherwise either one `scheme://host:port`
    address, or `old=>new` pairs separated by `,` or `;` with a trailing `/` on every address.
    Spaces are ignored, as the Hydra step template strips them.
    """
    compact = re.sub(r"\s+", "", text)
    if not compact:
        return []
    pieces = re.split(r"[,;]", compact)
    if "=>" not in compact:
        if len(pieces) > 1:
            return [
                f"{quoted(compact)} lists several addresses: give one address, or old=>new "
                "pairs separated by commas."
            ]
        return _address_errors(compact, in_pair=False)
    errors: list[str] = []
    for position, piece in enumerate(pieces, start=1):
        if not piece:
            errors.append(f"Entry {position} is empty: remove the extra comma or semicolon.")
            continue
        if piece.count("=>") != 1:
            errors.append(
                f"{quoted(piece)} is not an old=>new pair: write "
                "https://old-server:port/=>https://new-server:port/."
            )
            continue
        old, new = piece.split("=>")
        errors += _address_errors(old, in_pair=True, context=f"{quoted(piece)} (old side)")
        errors += _address_errors(new, in_pair=True, context=f"{quoted(piece)} (new side)")
    return errors


def build_server_mapping(entries: Iterable[tuple[str, str]]) -> str:
    """Build a Hydra Server Mapping from `(old, new)` address pairs.

    An empty `old` means "every polling instance": then exactly one new address is allowed and
    the single-address form is returned. With old addresses, the pair form is returned, with
    the trailing `/` the template requires. No entries give "" (listening Tentacles only).
    Raises PlanningError (field "server_mapping") naming the bad address.
    """
    pairs = [(re.sub(r"\s+", "", old), re.sub(r"\s+", "", new)) for old, new in entries]
    if not pairs:
        return ""
    with_old = [old for old, _ in pairs if old]
    if with_old and len(with_old) != len(pairs):
        raise PlanningError(
            "server_mapping",
            "Give either one new address for every polling Tentacle, or an old address for "
            "every pair.",
        )
    if not with_old:
        news = {new.rstrip("/") for _, new in pairs}
        if len(news) != 1:
            raise PlanningError(
                "server_mapping",
                "Several new addresses need old=>new pairs: say which old address each replaces.",
            )
        mapping = news.pop()
    else:
        mapping = ",".join(
            f"{old.rstrip('/')}/=>{new.rstrip('/')}/" for old, new in dict.fromkeys(pairs)
        )
    errors = validate_server_mapping(mapping)
    if errors:
        raise PlanningError("server_mapping", errors[0])
    return mapping
