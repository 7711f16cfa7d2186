"""What every entry point shares: one-line errors for bad input, configuration checks.

    def run():  # the console script of an entry point
        cli.run(main, define_flags=_define_flags)

A `ConfigError` (or another error of bad input: an unknown scenario, a missing dependency, an
unreadable checkpoint, a gin error) ends the program with `error: <message>` on stderr and
exit status 2, without a traceback; anything else is a bug and keeps its traceback. Set
`EPISODIC_CURIOSITY_TRACEBACK=1` to see the traceback of input errors too.
"""

from __future__ import annotations

import os
import sys
from typing import Callable, Iterable, Sequence

from absl import app


class ConfigError(ValueError):
    """Bad arguments or configuration; the message lists every problem found."""

    def __init__(self, problems: Iterable[str], what: str = "configuration"):
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = f"invalid {what}: {self.problems[0]}"
        else:
            message = f"invalid {what} ({len(self.problems)} problems):\n" + "\n".join(
                f"  - {problem}" for problem in self.problems
            )
        super().__init__(message)


def raise_if_problems(problems: Iterable[str], what: str = "configuration") -> None:
    problems = list(problems)
    if problems:
        raise ConfigError(problems, what)


def _input_errors() -> tuple[type[BaseException], ...]:
    """Exception types that mean "bad input", not "bug"."""
    # Imported here: cheap modules, but the package's import order stays free.
    from episodic_curiosity import checkpoint_io  # pylint: disable=g-import-not-at-top
    from episodic_curiosity import environments  # pylint: disable=g-import-not-at-top

    errors = [
        ConfigError,
        environments.UnknownScenarioError,
        environments.ScenarioNotAvailableError,
        environments.MissingDependencyError,
        checkpoint_io.CheckpointError,
        FileNotFoundError,
    ]
    return tuple(errors)


def run(main: Callable[[list[str]], None], define_flags: Callable[[], None] | None = None) -> None:
    """`absl.app.run(main)` with flags defined first and one-line errors for bad input."""
    if define_flags is not None:
        define_flags()
        _show_in_help(getattr(main, "__module__", None))
    app.run(lambda argv: _guarded(main, argv))


def _show_in_help(module_name: str | None) -> None:
    """`--help` lists the main module's flags; entry points run as `python -m` or as a console
    script define theirs in the package module, so those are registered for `__main__` too."""
    from absl import flags  # pylint: disable=g-import-not-at-top

    main_name = getattr(sys.modules.get("__main__"), "__file__", None)
    defined = flags.FLAGS.flags_by_module_dict().get(module_name, [])
    for key in {sys.argv[0], main_name, "__main__"} - {None}:
        for flag in defined:
            flags.FLAGS.register_key_flag_for_module(key, flag)


def _guarded(main: Callable[[list[str]], None], argv: list[str]) -> None:
    try:
        main(argv)
    except Exception as error:  # pylint: disable=broad-except
        if os.environ.get("EPISODIC_CURIOSITY_TRACEBACK") or not _is_input_error(error):
            raise
        message = str(error).strip() or type(error).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _is_input_error(error: BaseException) -> bool:
    return isinstance(error, _input_errors())


def given_flags(flag_values, names: Iterable[str]) -> dict:
    """{name: value} of the flags among `names` that were given on the command line.

    The one rule of every entry point: a flag overrides the gin binding of the same argument
    only when it is given; otherwise gin's value (else the function's default) applies.
    """
    return {name: flag_values[name].value for name in names if flag_values[name].present}


def parse_gin(config_files: Sequence[str], bindings: Sequence[str]) -> None:
    """Parses gin files and bindings strictly (unknown names are errors); a bad file or
    binding is a ConfigError naming it."""
    import gin  # pylint: disable=g-import-not-at-top

    for path in config_files:
        if not os.path.isfile(path):
            raise ConfigError([f"gin config file {path!r} does not exist"])
    try:
        gin.parse_config_files_and_bindings(list(config_files), list(bindings), skip_unknown=False)
    except (ValueError, SyntaxError, TypeError, ImportError) as error:
        raise ConfigError([f"{error}".strip()], "gin configuration") from error
