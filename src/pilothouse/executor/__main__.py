"""`python -m pilothouse.executor`: the same command as `pilothouse executor`, for executor images.

`pilothouse` imports every subcommand, and with them the server's stack (SQLAlchemy, FastAPI); an
executor needs none of it. Started this way it imports a fraction as much and starts in a fraction
of the time.
"""

from __future__ import annotations

import typer

from pilothouse.cli.executor import executor_command


def main() -> None:
    typer.run(executor_command)


if __name__ == "__main__":
    main()
