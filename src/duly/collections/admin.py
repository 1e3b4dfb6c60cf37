from django.contrib import admin

from duly.customers.tenancy import OrgScopedAdmin

from .models import LateFee


@admin.register(LateFee)
class LateFeeAdmin(OrgScopedAdmin):
    list_display = ("invoice", "level", "kind", "amount_minor", "currency", "days_late", "assessed_on", "fee_invoice")
    list_filter = ("kind", "currency", "assessed_on")
    search_fields = ("invoice__number", "invoice__customer__name")
    readonly_fields = [f.name for f in LateFee._meta.fields]

    def has_add_permission(self, request):
        return False
