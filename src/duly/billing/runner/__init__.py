"""The billing run's parts behind :func:`duly.billing.run.run_billing`: loading (:mod:`.load`), planning
(:mod:`.plan`, around the pure :mod:`duly.domain.compose`), executing (:mod:`.execute`), its result
(:mod:`.result`) and retainer top-ups (:mod:`.topups`). Writing is a service: :mod:`duly.billing.services.run_writer`."""
