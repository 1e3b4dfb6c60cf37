"""API keys, idempotency records and rate-limit windows of the REST API v1 (docs/api.md).

A key's secret is shown once, when it is created; only its SHA-256 digest is kept (the secret has 256
bits of entropy, so a plain digest is as strong as a slow hash would be), with a short prefix to find it.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from duly.customers.models import Organization
from duly.customers.roles import ROLE_CHOICES


class ApiKey(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys",
                                     verbose_name=_("organization"))
    name = models.CharField(max_length=100, verbose_name=_("name"))
    role = models.CharField(max_length=20, choices=ROLE_CHOICES,
                            help_text=_("What the key may do, as the permissions of this membership role."),
                            verbose_name=_("role"))
    prefix = models.CharField(max_length=16, unique=True, help_text=_("The public start of the key, to recognise it."),
                              verbose_name=_("prefix"))
    secret_sha256 = models.CharField(max_length=64, unique=True, verbose_name=_("secret sha256"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    last_used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last used at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))
    rate_limit_per_minute = models.PositiveIntegerField(default=600, verbose_name=_("rate limit per minute"))

    class Meta:
        verbose_name_plural = _("api keys")
        ordering = ["organization", "name"]
        verbose_name = _("API key")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class IdempotencyRecord(models.Model):
    """One POST made with an ``Idempotency-Key``: its request fingerprint and the response to replay."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    key = models.CharField(max_length=255, verbose_name=_("key"))
    request_sha256 = models.CharField(max_length=64, verbose_name=_("request sha256"))
    status_code = models.PositiveSmallIntegerField(null=True, blank=True,
                                                   verbose_name=_("status code"))  # None: still being handled
    content_type = models.CharField(max_length=100, blank=True, verbose_name=_("content type"))
    body = models.BinaryField(blank=True, default=b"", verbose_name=_("body"))
    created_at = models.DateTimeField(verbose_name=_("created at"))

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["organization", "key"], name="api_idempotency_once")]


class RateWindow(models.Model):
    """Requests a key made in one fixed one-minute window."""

    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="+", verbose_name=_("api key"))
    window_start = models.DateTimeField(verbose_name=_("window start"))
    count = models.PositiveIntegerField(default=0, verbose_name=_("count"))

    class Meta:
        verbose_name = _("rate window")
        verbose_name_plural = _("rate windows")
        constraints = [models.UniqueConstraint(fields=["api_key", "window_start"], name="api_rate_window_once")]


from .outgoing_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent  # noqa: E402,F401
