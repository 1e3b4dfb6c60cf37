from django.contrib import admin

from duly.customers.tenancy import OrgScopedAdmin

from .models import Allocation, CreditEntry, Payment, Refund


class AllocationInline(admin.TabularInline):
    model = Allocation
    fk_name = "payment"
    extra = 0
    readonly_fields = ("invoice", "amount_minor", "applied_on", "from_credit", "credit_note")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(OrgScopedAdmin):
    """Payments are recorded through the service (invoice page → record payment); they are read-only here."""

    list_display = ("received_on", "customer", "amount_minor", "currency", "method", "external_reference")
    list_filter = ("method", "currency", "received_on")
    search_fields = ("external_reference", "customer__name", "customer__code")
    inlines = [AllocationInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CreditEntry)
class CreditEntryAdmin(OrgScopedAdmin):
    list_display = ("created_on", "customer", "amount_minor", "currency", "memo")
    list_filter = ("currency",)
    search_fields = ("customer__name", "memo")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Refund)
class RefundAdmin(OrgScopedAdmin):
    list_display = ("refunded_on", "payment", "amount_minor", "reason")

    def has_add_permission(self, request):
        return False
