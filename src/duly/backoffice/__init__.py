"""The back office pages that bring several apps together (an interface, above the apps it calls).

Each app's ``admin.py`` registers the pages of its own models and calls only its own services and those
below it. What a page needs from an app above the model's (a customer's statement of account and balances,
an invoice's record-payment page and its late-fee action) is added here: :mod:`duly.backoffice.admin`
registers the app's admin again, extended (it is the last installed app, so Django's admin discovers it
after the others). See docs/conventions.md, "Layers".
"""
