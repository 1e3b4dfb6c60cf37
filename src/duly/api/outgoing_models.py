"""Outgoing webhooks (docs/api.md, "Webhooks"): endpoints per organization, the event outbox, one delivery per
(event, endpoint) and the log of every attempt.

An endpoint's signing secret (``whsec_<base64>``, Standard Webhooks) is shown once, when it is made or rotated.
It is kept in the database because every delivery is signed with it (an HMAC needs the key itself); it is never
shown again, logged or written into an attempt.
"""

from __future__ import annotations

from django.db import models

from duly.customers.models import Organization


class WebhookEndpoint(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=2000, help_text="https:// URL that receives a POST for each event.")
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text="The event types this endpoint receives.")
    secret = models.CharField(max_length=100, editable=False)
    #: The secret before the last rotation: deliveries carry both signatures until it expires.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField()
    disabled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["organization", "pk"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.url


class WebhookEvent(models.Model):
    """One business event for one organization: its stable id (``webhook-id``) and the JSON body sent."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(max_length=40, unique=True)
    event_type = models.CharField(max_length=40)
    #: What happened, named so that the same happening reported twice has the same key.
    key = models.CharField(max_length=200)
    payload = models.JSONField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-pk"]
        verbose_name = "webhook event"
        constraints = [models.UniqueConstraint(fields=["organization", "event_type", "key"],
                                               name="api_webhook_event_once")]
        indexes = [models.Index(fields=["organization", "event_type"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class WebhookDelivery(models.Model):
    PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
    STATUS_CHOICES = [(PENDING, "Pending"), (SENDING, "Sending"), (DELIVERED, "Delivered"), (FAILED, "Failed")]

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=STATUS_CHOICES, default=PENDING)
    #: Failed attempts since the delivery was queued (or replayed): they set the next wait.
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-pk"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="api_webhook_delivery_once")]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event.event_type} {self.event.event_id} → {self.endpoint.url}"


class WebhookAttempt(models.Model):
    """One HTTP POST of a delivery: when, the answer's status code, how long it took, the error."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["pk"]
        verbose_name = "webhook attempt"
