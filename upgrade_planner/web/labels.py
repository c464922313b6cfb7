"""What the plan page calls the per-Tentacle kinds of step and the fleets they make up: shared
by the checklist (pages.py) and the timeline (timeline.py)."""

from __future__ import annotations

KIND_LABELS = {
    "upgrade-tentacle": "Upgrade",
    "reconfigure-service-account": "Re-apply the service account",
    "reinstall-tentacle-service": "Reinstall the service",
    "repoint-polling-tentacle": "Re-point the polling Tentacle",
}
FLEET_LABELS = {
    "upgrade-tentacle": "Upgrade the Tentacles",
    "reconfigure-service-account": "Re-apply custom service accounts",
    "reinstall-tentacle-service": "Reinstall the Tentacle services",
    "repoint-polling-tentacle": "Re-point the polling Tentacles upgraded by hand",
}
FLEET_CANARY_LABELS = {True: "Upgrade the canary Tentacles", False: "Upgrade the other Tentacles"}
