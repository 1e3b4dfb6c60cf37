"""The WSGI application for any WSGI server (gunicorn, uWSGI, waitress-serve duly.wsgi:application).

It refuses to load, with one line naming DULY_SECRET_KEY, unless the secret key is fit for a server
(see duly.security and SECURITY.md); `duly demo` serves without this module.
"""

import os
import sys

from django.core.wsgi import get_wsgi_application

from duly.security import secret_key_problem

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "duly.settings")
_problem = secret_key_problem()
if _problem:
    sys.stderr.write(f"error: {_problem}\n")
    raise SystemExit(2)
application = get_wsgi_application()
