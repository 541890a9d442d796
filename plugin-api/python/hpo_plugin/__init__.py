"""hpo_plugin: hpo plugins (arms, strategies, stoppers and schedulers) written in Python.

A plugin is built into a sandboxed WebAssembly component by componentize-py against the
same WIT world as the Rust plugins (``wit/hpo.wit``), and installed with
``hpo plugin install``. This module mirrors the Rust SDK (``hpo_plugin_api::sdk``): one
``Plugin`` class with its sessions, in ordinary Python; ``export`` turns it into the
component's exports (``Plugin, Stopping = export(MyPlugin)``: componentize-py exports the
two classes of those names, one per interface of the world).

Errors: raise ``PluginError`` to answer a call with an error (the host reports it with
your plugin's and arm's names; the session stays as it is). Any other exception is a bug:
it traps the instance, as a Rust panic does, and the host starts a fresh instance and
re-sends the history. Keep a session's state derivable from its history and seed.

The sandbox has no filesystem, network, clock or host randomness: use the seeds given
(``random.Random(request.seed)``). Only the standard library is available.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

#: The plugin API version this SDK speaks (semver; the host accepts a plugin whose major
#: equals its own and whose minor is not newer).
API_VERSION = "1.2.0"

__all__ = [
    "API_VERSION",
    "ArmConfig",
    "Assignment",
    "ArmSession",
    "ArmStat",
    "Curve",
    "Description",
    "Feedback",
    "Job",
    "Observations",
    "Plugin",
    "PluginError",
    "Proposal",
    "ProposeRequest",
    "SelectRequest",
    "RuleConfig",
    "StopperSession",
    "StrategyConfig",
    "StrategySession",
    "check_options",
    "export",
]


class PluginError(Exception):
    """An error answer: reaches the user, and the session stays usable."""


@dataclass
class Description:
    """What a plugin says about itself."""

    name: str
    version: str
    description: str
    #: Arm names, ``MODEL/ACQUISITION``.
    arms: List[str] = field(default_factory=list)
    #: Strategy names.
    strategies: List[str] = field(default_factory=list)
    #: Stopper names (early-termination rules).
    stoppers: List[str] = field(default_factory=list)
    schedulers: List[str] = field(default_factory=list)


@dataclass
class ArmConfig:
    """Opens a model session: one per (plugin, model) and run."""

    #: The model part of the arm name.
    model: str
    #: The search space (the host's ``SpaceSpec`` as a dict): ``params`` with their
    #: names, kinds and encodings; points arrive encoded in the unit cube.
    space: dict
    #: The plugin's options from the run configuration.
    options: dict
    seed: int


@dataclass
class Observations:
    """New observations, appended to what the session knows (lower values are better)."""

    #: Encoded points, one row each, in ``[0, 1]``.
    x: List[List[float]]
    y: List[float]
    #: Evaluation cost of each point, seconds.
    cost: List[float]
    #: ``"final"``, ``"interim"`` (a learning-curve point) or ``"failed"`` (y is NaN).
    status: List[str]


@dataclass
class ProposeRequest:
    """One proposal request."""

    #: The acquisition part of the arm name.
    acquisition: str
    #: Indices of the pool rows still available.
    candidates: List[int]
    #: Encoded points being evaluated right now.
    pending: List[List[float]]
    #: How many points to propose.
    n: int
    seed: int
    #: Whether points off the pool are acceptable.
    allow_off_pool: bool


@dataclass
class Proposal:
    """One proposed point: a pool row, or (when allowed) an encoded point."""

    pool_index: Optional[int] = None
    point: List[float] = field(default_factory=list)
    acquisition: float = 0.0
    mean: float = math.nan
    variance: float = math.nan


@dataclass
class StrategyConfig:
    """Opens a strategy session: one per run."""

    name: str
    arm_names: List[str]
    options: dict
    seed: int


@dataclass
class ArmStat:
    """What the host knows about one arm."""

    pulls: int
    failures: int
    #: Sum of the rewards this arm received (higher is better).
    total_reward: float
    suspended: bool


@dataclass
class SelectRequest:
    """One selection request."""

    iteration: int
    elapsed: float
    stats: List[ArmStat]


@dataclass
class Feedback:
    """What happened after a selection."""

    chosen: int
    #: The chosen arm's reward (higher is better).
    reward: float
    #: Per-arm gains when the strategy wants nominations, else empty.
    gains: List[float]
    elapsed: float


@dataclass
class RuleConfig:
    """An early-termination rule's settings: a stopper's session, or a scheduler call."""

    name: str
    options: dict
    seed: int
    #: Epochs of a full trial when the objective knows them (a table's), else 0.
    horizon: int


@dataclass
class Curve:
    """A trial's learning curve: its reports in order (lower is better)."""

    epochs: List[int]
    values: List[float]
    #: Whether the trial was stopped early (curves of ended trials).
    terminated: bool = False


@dataclass
class Job:
    """One evaluation a scheduler assigned: a configuration trained to a budget."""

    trial: int
    #: The trial this one continues (a promotion), or None.
    parent: Optional[int]
    #: Epochs to train to.
    budget: int
    #: "pending", "complete" or "failed".
    state: str
    #: The value within the budget (lower is better), when complete.
    value: float


@dataclass
class Assignment:
    """What the next free worker runs: a promotion of a completed trial's configuration
    (``promote`` = its trial id) or a new configuration (``promote`` None), to ``budget``."""

    promote: Optional[int]
    budget: int


class ArmSession:
    """A model session: told the pool once, observations incrementally, asked for
    proposals."""

    pool: List[List[float]] = []

    def set_pool(self, pool: List[List[float]]) -> None:
        """The candidate pool (encoded rows); kept as ``self.pool`` by default."""
        self.pool = pool

    def tell(self, observations: Observations) -> None:
        """Appends observations."""
        raise NotImplementedError

    def propose(self, request: ProposeRequest) -> List[Proposal]:
        """``request.n`` proposals: distinct rows among ``request.candidates``, or points
        in the unit cube when ``request.allow_off_pool``."""
        raise NotImplementedError

    def predict(self, points: List[List[float]]) -> Tuple[List[float], List[float]]:
        """Mean and variance at ``points``."""
        raise PluginError("this model does not predict")

    def snapshot(self) -> bytes:
        """The session's state for ``--resume``; none by default (the host replays the
        history into a resumed session)."""
        return b""

    def restore(self, state: bytes) -> None:
        """Restores a state written by ``snapshot``."""


class StrategySession:
    """A strategy session: picks the arm of each iteration."""

    def wants_nominations(self) -> bool:
        """Whether the host should collect every arm's nominee and report gains."""
        return False

    def select(self, request: SelectRequest) -> List[int]:
        """Arm indices, best first (the host falls back down the ranking)."""
        raise NotImplementedError

    def update(self, feedback: Feedback) -> None:
        """The outcome of the last selection."""
        raise NotImplementedError

    def snapshot(self) -> bytes:
        """The session's state, for ``--resume`` and for a reopened instance."""
        return b""

    def restore(self, state: bytes) -> None:
        """Restores a state written by ``snapshot``."""


class StopperSession:
    """A stopper session: decides, report by report, whether a trial goes on. It needs no
    snapshot: on resume the host tells it the ended trials' curves again."""

    def decide(self, curve: Curve) -> bool:
        """Whether the trial whose curve so far is ``curve`` must stop now."""
        raise NotImplementedError

    def finish(self, curve: Curve) -> None:
        """Records the curve of a trial that ended (``curve.terminated`` if stopped)."""


class Plugin:
    """A plugin: arms, strategies and/or stoppers. Override ``describe`` and the ``open_*`` of
    what you provide; state lives in the sessions."""

    @classmethod
    def describe(cls) -> Description:
        raise NotImplementedError

    @classmethod
    def validate(cls, kind: str, name: str, options: dict) -> None:
        """Checks options before a run (``kind`` is ``"arm"`` or ``"strategy"``); raise
        ``PluginError`` naming the offending option."""

    @classmethod
    def open_arm(cls, config: ArmConfig) -> ArmSession:
        raise PluginError(f"this plugin has no model '{config.model}'")

    @classmethod
    def open_strategy(cls, config: StrategyConfig) -> StrategySession:
        raise PluginError(f"this plugin has no strategy '{config.name}'")

    @classmethod
    def validate_stopper(cls, name: str, options: dict) -> None:
        """Checks a stopper's options before a run; raise ``PluginError`` naming the
        offending option."""

    @classmethod
    def open_stopper(cls, config: RuleConfig) -> StopperSession:
        raise PluginError(f"this plugin has no stopper '{config.name}'")

    @classmethod
    def validate_scheduler(cls, name: str, options: dict) -> None:
        """Checks a scheduler's options before a run; raise ``PluginError`` naming the
        offending option."""

    @classmethod
    def schedule(cls, config: RuleConfig, jobs: List[Job]) -> Assignment:
        """The next assignment, a pure function of every job so far (in trial order)."""
        raise PluginError(f"this plugin has no scheduler '{config.name}'")


def check_options(options: dict, allowed: Dict[str, type]) -> None:
    """Raises ``PluginError`` naming any option not in ``allowed`` or of the wrong type."""
    for key, value in options.items():
        if key not in allowed:
            known = ", ".join(sorted(allowed)) or "none"
            raise PluginError(f"unknown option '{key}' (known: {known})")
        want = allowed[key]
        ok = isinstance(value, (int, float)) if want is float else isinstance(value, want)
        if not ok or isinstance(value, bool) and want is not bool:
            raise PluginError(f"option '{key}' must be a {want.__name__}, got {value!r}")


def _options(text: str) -> dict:
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError as e:
        raise PluginError(f"options: {e}") from None
    if not isinstance(value, dict):
        raise PluginError("options must be a JSON object")
    return value


def _rows(matrix) -> List[List[float]]:
    cols, data = matrix.cols, matrix.data
    if cols == 0:
        return []
    return [list(data[i : i + cols]) for i in range(0, len(data), cols)]


def _flat(rows: Sequence[Sequence[float]], cols: int):
    from wit_world.imports import types as wt

    return wt.Matrix(cols=cols, data=[float(v) for row in rows for v in row])


def export(plugin_cls):
    """The component's exports of ``plugin_cls``, one class per interface of the world:
    assign them to ``Plugin`` and ``Stopping`` in the module componentize-py builds
    (``Plugin, Stopping = export(MyPlugin)``).

    Outside a component (plain CPython, where the generated bindings do not exist) it
    returns ``(plugin_cls, None)``, so that ``import app`` works in your unit tests: a
    traceback there is readable, while inside the sandbox an exception is only a trap.
    """
    try:
        import wit_world  # noqa: F401  (generated by componentize-py)
    except ImportError:
        return plugin_cls, None
    from componentize_py_types import Err
    from wit_world import exports
    from wit_world.exports import plugin as wit_plugin
    from wit_world.exports import stopping as ws
    from wit_world.imports import types as wt

    statuses = {
        wt.ObservationStatus.FINAL: "final",
        wt.ObservationStatus.INTERIM: "interim",
        wt.ObservationStatus.FAILED: "failed",
    }

    def answer(call, *args):
        try:
            return call(*args)
        except PluginError as e:
            raise Err(str(e)) from None

    class Arm(wit_plugin.ArmSession):
        def __init__(self, session: ArmSession):
            self.session = session

        def set_pool(self, pool):
            answer(self.session.set_pool, _rows(pool))

        def tell(self, o):
            observations = Observations(
                x=_rows(o.x),
                y=list(o.y),
                cost=list(o.cost),
                status=[statuses[s] for s in o.status],
            )
            answer(self.session.tell, observations)

        def propose(self, r):
            request = ProposeRequest(
                acquisition=r.acquisition,
                candidates=list(r.candidates),
                pending=_rows(r.pending),
                n=r.n,
                seed=r.seed,
                allow_off_pool=r.allow_off_pool,
            )
            proposals = answer(self.session.propose, request)
            return [
                wt.Proposed(
                    pool_index=p.pool_index,
                    point=[float(v) for v in p.point],
                    acquisition=float(p.acquisition),
                    mean=float(p.mean),
                    variance=float(p.variance),
                )
                for p in proposals
            ]

        def predict(self, points):
            mean, variance = answer(self.session.predict, _rows(points))
            return wt.Prediction(mean=[float(v) for v in mean], variance=[float(v) for v in variance])

        def snapshot(self):
            return bytes(answer(self.session.snapshot))

        def restore(self, state):
            answer(self.session.restore, bytes(state))

    class Strategy(wit_plugin.StrategySession):
        def __init__(self, session: StrategySession):
            self.session = session

        def wants_nominations(self):
            return bool(self.session.wants_nominations())

        def select(self, r):
            stats = [ArmStat(s.pulls, s.failures, s.total_reward, s.suspended) for s in r.stats]
            request = SelectRequest(iteration=r.iteration, elapsed=r.elapsed, stats=stats)
            return [int(i) for i in answer(self.session.select, request)]

        def update(self, f):
            feedback = Feedback(chosen=f.chosen, reward=f.reward, gains=list(f.gains), elapsed=f.elapsed)
            answer(self.session.update, feedback)

        def snapshot(self):
            return bytes(answer(self.session.snapshot))

        def restore(self, state):
            answer(self.session.restore, bytes(state))

    class Export(exports.Plugin):
        def info(self):
            d = plugin_cls.describe()
            return wt.PluginInfo(
                name=d.name,
                version=d.version,
                api_version=API_VERSION,
                description=d.description,
                arms=list(d.arms),
                strategies=list(d.strategies),
            )

        def validate(self, kind, name, options_json):
            which = "arm" if kind == wt.ComponentKind.ARM else "strategy"
            answer(lambda: plugin_cls.validate(which, name, _options(options_json)))

        def open_arm(self, c):
            def open_():
                config = ArmConfig(model=c.model, space=json.loads(c.space_json), options=_options(c.options_json), seed=c.seed)
                return plugin_cls.open_arm(config)

            return Arm(answer(open_))

        def open_strategy(self, c):
            def open_():
                config = StrategyConfig(name=c.name, arm_names=list(c.arm_names), options=_options(c.options_json), seed=c.seed)
                return plugin_cls.open_strategy(config)

            return Strategy(answer(open_))

    def curve(c) -> Curve:
        return Curve(epochs=list(c.epochs), values=list(c.values), terminated=bool(c.terminated))

    class Stopper(ws.StopperSession):
        def __init__(self, session: StopperSession):
            self.session = session

        def decide(self, c):
            stop = answer(self.session.decide, curve(c))
            return ws.Decision.STOP if stop else ws.Decision.CONTINUE

        def finish(self, c):
            answer(self.session.finish, curve(c))

    class StoppingExport(exports.Stopping):
        def stoppers(self):
            return list(plugin_cls.describe().stoppers)

        def validate_stopper(self, name, options_json):
            answer(lambda: plugin_cls.validate_stopper(name, _options(options_json)))

        def open_stopper(self, c):
            def open_():
                config = RuleConfig(name=c.name, options=_options(c.options_json), seed=c.seed, horizon=c.horizon)
                return plugin_cls.open_stopper(config)

            return Stopper(answer(open_))

        def schedulers(self):
            return list(plugin_cls.describe().schedulers)

        def validate_scheduler(self, name, options_json):
            answer(lambda: plugin_cls.validate_scheduler(name, _options(options_json)))

        def schedule(self, c, jobs):
            def schedule_():
                config = RuleConfig(name=c.name, options=_options(c.options_json), seed=c.seed, horizon=c.horizon)
                return plugin_cls.schedule(config, [job(j) for j in jobs])

            a = answer(schedule_)
            return ws.Assignment(promote=a.promote, budget=a.budget)

    def job(j) -> Job:
        state = {ws.JobState.PENDING: "pending", ws.JobState.COMPLETE: "complete"}.get(j.state, "failed")
        return Job(trial=j.trial, parent=j.parent, budget=j.budget, state=state, value=j.value)

    return Export, StoppingExport
