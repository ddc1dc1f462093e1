"""`streamlab ...`, the command line, on typer: `stack`, `run app|stop`, `topics [create]`, `groups`, `tail`,
`bench run|list|pipeline|codecs`. One module per command group (`stack`, `run`, `explore`, `bench`);
`output` holds the consoles and the table printer.

Errors the user can fix (a broker not running, a bad value, a port in use) are `UserError`s and
print as one line with what to do, exit code 2, no traceback.
"""

from __future__ import annotations

import sys

import typer

try:   # typer >= 0.2x carries its own copy of click; older ones use click itself
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import NoArgsIsHelpError, UsageError

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
    """Run the CLI; every error the user can fix is one line on stderr and exit code 2.

    Click runs non-standalone, so its usage errors (a wrong flag, a value out of range) come here as
    exceptions instead of typer's boxed panel with a usage block around it.
    """
    try:
        code = app(standalone_mode=False)
    except NoArgsIsHelpError as exc:   # `streamlab run`: the help, as click prints it
        exc.show()
        sys.exit(exc.exit_code)
    except UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "streamlab"
        _error(f"{exc.format_message()} (see `{command} --help`)")
    except UserError as exc:
        _error(str(exc))
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    if isinstance(code, int):
        sys.exit(code)


def _error(message: str) -> None:
    err_console.print(f"[red]error:[/] {message}", highlight=False, soft_wrap=True)
    sys.exit(2)
