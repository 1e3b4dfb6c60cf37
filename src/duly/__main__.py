"""``python -m duly``: the ``duly`` command (:mod:`duly.cli.start`)."""

from duly.cli.start import main

if __name__ == "__main__":
    main()
