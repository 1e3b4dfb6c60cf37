"""The back office speaks the staff user's language.

Like Django's ``LocaleMiddleware`` (Accept-Language, else the language cookie), but only on the back office's
pages: a language chosen for the user (``Membership.language``, set on the membership's admin page) wins over
the browser's. The portal and the API choose their language themselves (the customer's, the session's), so they
are left alone, and the language is put back after each request (the next one in this thread starts in English).
"""

from __future__ import annotations

from django.utils import translation
from django.utils.cache import patch_vary_headers

from duly.customers.models import Membership

ADMIN_PREFIX = "/admin/"


def staff_language(request) -> str:
    """The language chosen for the signed-in staff user, else the one their browser asks for."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        chosen = (Membership.objects.filter(user_id=user.pk).exclude(language="")
                  .order_by("pk").values_list("language", flat=True).first())
        if chosen:
            return chosen
    return translation.get_language_from_request(request)


class StaffLanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(ADMIN_PREFIX):
            return self.get_response(request)
        with translation.override(staff_language(request)):
            request.LANGUAGE_CODE = translation.get_language()
            response = self.get_response(request)
            patch_vary_headers(response, ("Accept-Language",))
            response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        return response
