"""API keys, idempotency records and rate-limit windows of the REST API v1 (docs/api.md).

A key's secret is shown once, when it is created; only its SHA-256 digest is kept (the secret has 256
bits of entropy, so a plain digest is as strong as a slow hash would be), with a short prefix to find it.
"""

from __future__ import annotations

from django.db import models

from duly.customers.models import Organization
from duly.customers.roles import ROLE_CHOICES


class ApiKey(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=20, choices=ROLE_CHOICES,
                            help_text="What the key may do, as the permissions of this membership role.")
    prefix = models.CharField(max_length=16, unique=True, help_text="The public start of the key, to recognise it.")
    secret_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(default=600)

    class Meta:
        ordering = ["organization", "name"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IdempotencyRecord(models.Model):
    """One POST made with an ``Idempotency-Key``: its request fingerprint and the response to replay."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_sha256 = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)  # None: still being handled
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(blank=True, default=b"")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="api_idempotency_once")]


class RateWindow(models.Model):
    """Requests a key made in one fixed one-minute window."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+")
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "window_start"], name="api_rate_window_once")]


from .outgoing_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent  # noqa: E402,F401
