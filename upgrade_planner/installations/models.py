"""What the customer has: an Octopus server and its Tentacles, as they described them."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower

from upgrade_planner.domain.planner import TentacleInput
from upgrade_planner.domain.vocabulary import CommunicationStyle


class Installation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    server_version = models.CharField(max_length=40)
    target_version = models.CharField(max_length=40)
    can_provision_new_server = models.BooleanField(default=True)
    sql_server_ready = models.BooleanField(default=False)
    uses_builtin_feed = models.BooleanField(default=False)
    backup_size_mb = models.PositiveIntegerField(null=True, blank=True)
    document_count = models.PositiveIntegerField(null=True, blank=True)
    history_days_to_keep = models.PositiveIntegerField(null=True, blank=True)
    polling_port = models.PositiveIntegerField(default=10943)
    old_server_url = models.CharField(max_length=500, blank=True)
    new_server_url = models.CharField(max_length=500, blank=True)
    # The server's high-availability node names, in the order given; [] or one name is a
    # single server.
    ha_nodes = models.JSONField(default=list, blank=True)
    # What the readiness report checks (product.md §5.6), as given; blank when not given.
    server_os = models.CharField(max_length=200, blank=True, default="", db_default="")
    dotnet_version = models.CharField(max_length=40, blank=True, default="", db_default="")
    sql_server_version = models.CharField(max_length=40, blank=True, default="", db_default="")
    license_maintenance_expires = models.DateField(null=True, blank=True)
    features_in_use = models.JSONField(default=list, blank=True, db_default=[])
    # What the latest readiness scan read from the live server (domain/readiness.py ScanFacts
    # as JSON), and when; None before any scan.
    scan_facts = models.JSONField(null=True, blank=True)
    scanned_at = models.DateTimeField(null=True, blank=True)
    # Encrypted with settings.API_KEY_ENCRYPTION_KEY (see installations/api_keys.py); never
    # shown back, never logged, only sent to the URL beside it.
    old_server_api_key = models.TextField(blank=True)
    new_server_api_key = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(polling_port__gte=1, polling_port__lte=65535),
                name="installation_polling_port_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.server_version} → {self.target_version})"


class TentacleQuerySet(models.QuerySet["Tentacle"]):
    def of_installation(self, installation_id: uuid.UUID) -> TentacleQuerySet:
        """The Tentacles of one installation."""
        return self.filter(installation_id=installation_id)


class Tentacle(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    installation = models.ForeignKey(
        Installation, on_delete=models.CASCADE, related_name="tentacles"
    )
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    hostname = models.CharField(max_length=253, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    version = models.CharField(max_length=40, blank=True)
    communication_style = models.CharField(
        max_length=20,
        choices=CommunicationStyle.choices,
        default=CommunicationStyle.LISTENING,
    )
    environments = models.JSONField(default=list, blank=True)
    roles = models.JSONField(default=list, blank=True)
    os = models.CharField(max_length=200, blank=True)
    service_account = models.CharField(max_length=200, blank=True)
    restricted_permissions = models.BooleanField(default=False)
    online = models.BooleanField(default=True)

    objects = TentacleQuerySet.as_manager()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(
                "installation", Lower("name"), name="tentacle_name_unique_per_installation"
            ),
            models.CheckConstraint(
                condition=models.Q(port__isnull=True) | models.Q(port__gte=1, port__lte=65535),
                name="tentacle_port_in_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def as_input(self) -> TentacleInput:
        """The planner's input for this saved Tentacle."""
        return TentacleInput(
            name=self.name,
            hostname=self.hostname,
            port=self.port,
            version=self.version,
            communication_style=CommunicationStyle(self.communication_style),
            environments=tuple(self.environments),
            roles=tuple(self.roles),
            os=self.os,
            service_account=self.service_account,
            restricted_permissions=self.restricted_permissions,
            online=self.online,
        )
