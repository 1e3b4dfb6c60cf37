"""Outgoing webhooks (docs/api.md, "Webhooks"): endpoints per organization, the event outbox, one delivery per
(event, endpoint) and the log of every attempt.

An endpoint's signing secret (``whsec_<base64>``, Standard Webhooks) is shown once, when it is made or rotated.
It is kept in the database because every delivery is signed with it (an HMAC needs the key itself); it is never
shown again, logged or written into an attempt.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from duly.customers.models import Organization


class WebhookEndpoint(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints",
                                     verbose_name=_("organization"))
    url = models.CharField(max_length=2000, help_text=_("https:// URL that receives a POST for each event."),
                           verbose_name=_("url"))
    description = models.CharField(max_length=200, blank=True, verbose_name=_("description"))
    event_types = models.JSONField(default=list, help_text=_("The event types this endpoint receives."),
                                   verbose_name=_("event types"))
    secret = models.CharField(max_length=100, editable=False, verbose_name=_("secret"))
    #: The secret before the last rotation: deliveries carry both signatures until it expires.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False,
                                       verbose_name=_("previous secret"))
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False,
                                                      verbose_name=_("previous secret expires at"))
    enabled = models.BooleanField(default=True, verbose_name=_("enabled"))
    created_at = models.DateTimeField(verbose_name=_("created at"))
    disabled_at = models.DateTimeField(null=True, blank=True, verbose_name=_("disabled at"))

    class Meta:
        verbose_name_plural = _("webhook endpoints")
        ordering = ["organization", "pk"]
        verbose_name = _("webhook endpoint")

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """One business event for one organization: its stable id (``webhook-id``) and the JSON body sent."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    event_id = models.CharField(max_length=40, unique=True, verbose_name=_("event id"))
    event_type = models.CharField(max_length=40, verbose_name=_("event type"))
    #: What happened, named so that the same happening reported twice has the same key.
    key = models.CharField(max_length=200, verbose_name=_("key"))
    payload = models.JSONField(verbose_name=_("payload"))
    created_at = models.DateTimeField(verbose_name=_("created at"))

    class Meta:
        verbose_name_plural = _("webhook events")
        ordering = ["-pk"]
        verbose_name = _("webhook event")
        constraints = [models.UniqueConstraint(fields=["organization", "event_type", "key"],
                                               name="api_webhook_event_once")]
        indexes = [models.Index(fields=["organization", "event_type"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class WebhookDelivery(models.Model):
    PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
    STATUS_CHOICES = [(PENDING, _("Pending")), (SENDING, _("Sending")), (DELIVERED, _("Delivered")), (FAILED, _("Failed"))]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries",
                              verbose_name=_("event"))
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries",
                                 verbose_name=_("endpoint"))
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=PENDING, verbose_name=_("status"))
    #: Failed attempts since the delivery was queued (or replayed): they set the next wait.
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next attempt at"))
    lease_token = models.CharField(max_length=32, blank=True, verbose_name=_("lease token"))
    lease_expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("lease expires at"))
    delivered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("delivered at"))
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("last status code"))
    last_error = models.CharField(max_length=500, blank=True, verbose_name=_("last error"))
    created_at = models.DateTimeField(verbose_name=_("created at"))

    class Meta:
        ordering = ["-pk"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="api_webhook_delivery_once")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event.event_type} {self.event.event_id} → {self.endpoint.url}"


class WebhookAttempt(models.Model):
    """One HTTP POST of a delivery: when, the answer's status code, how long it took, the error."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+",
                                     verbose_name=_("organization"))
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log",
                                 verbose_name=_("delivery"))
    attempted_at = models.DateTimeField(verbose_name=_("attempted at"))
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, verbose_name=_("status code"))
    duration_ms = models.PositiveIntegerField(default=0, verbose_name=_("duration ms"))
    error = models.CharField(max_length=500, blank=True, verbose_name=_("error"))
    succeeded = models.BooleanField(default=False, verbose_name=_("succeeded"))

    class Meta:
        verbose_name_plural = _("webhook attempts")
        ordering = ["pk"]
        verbose_name = _("webhook attempt")
