"""`pxl` subcommands (to be filled in by its issue)."""


def register(subparsers) -> None:
    pass
