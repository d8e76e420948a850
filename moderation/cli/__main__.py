"""``python -m moderation.cli``: the ``moderation`` command (tests and the server start it so)."""

from moderation.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
