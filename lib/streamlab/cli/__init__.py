"""`streamlab ...`, the command line, on typer: `stack`, `run app|stop`, `topics [create]`, `groups`, `tail`,
`bench run|list|pipeline|codecs`. One module per command group (`stack`, `run`, `explore`, `bench`);
`output` holds the consoles and the table printer.

Errors the user can fix (a broker not running, a bad value, a port in use) are `UserError`s and
print as one line with what to do, exit code 2, no traceback.
"""

from __future__ import annotations

import sys

import typer

from ..errors import UserError
from .bench import bench_app
from .explore import groups, tail, topics_app
from .output import err_console
from .run import run_app
from .stack import stack_app

app = typer.Typer(help="streamlab: streaming systems, measured.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
app.add_typer(stack_app, name="stack")
app.add_typer(topics_app, name="topics")
app.add_typer(run_app, name="run")
app.add_typer(bench_app, name="bench")
app.command("groups")(groups)
app.command("tail")(tail)


def main() -> None:
    try:
        app()
    except UserError as exc:
        err_console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
