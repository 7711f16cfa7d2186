"""Errors raised by the environment layer, each naming the problem and the fix."""


class UnknownScenarioError(ValueError):
    """A scenario name that the registry does not know."""


class ScenarioNotAvailableError(NotImplementedError):
    """A known scenario whose environment is not implemented yet."""


class MissingDependencyError(ImportError):
    """An optional simulator package is not installed."""

    def __init__(self, package: str, extra: str, scenario_family: str):
        super().__init__(
            f"{scenario_family} scenarios need the '{package}' package, which is not "
            f"importable. Install it with: pip install 'episodic-curiosity[{extra}]' "
            f"(or from a checkout: pip install -e '.[{extra}]')"
        )
        self.package = package
        self.extra = extra
