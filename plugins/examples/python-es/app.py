"""py-es: an example third-party arm in pure Python, the (1+1) evolution strategy.

The arm ES/ONE-FIFTH keeps an incumbent and a step size, both derived from the history
in the order observed: a final value better than the incumbent's replaces it and widens
the step, a worse one narrows it (Rechenberg's one-fifth success rule: the step holds
still when one mutation in five succeeds). A proposal is the incumbent plus Gaussian
noise of that step in every encoded coordinate, clipped to the unit cube; on a finite
pool, the nearest candidate. Before any final value it proposes uniformly at random.

Build it with `./build.sh` (componentize-py 0.25), install the `.wasm` with
`hpo plugin install`, and use it as `ES/ONE-FIFTH` beside the Rust arms.
"""

import math
import random

import hpo_plugin as hp

#: Factors of the step size after a success and after a failure: one success in five
#: leaves it unchanged (SUCCESS * FAILURE**4 == 1).
SUCCESS = math.exp(0.8 / 3)
FAILURE = math.exp(-0.2 / 3)
MIN_STEP, MAX_STEP = 1e-4, 0.5


class OnePlusOne(hp.ArmSession):
    def __init__(self, config: hp.ArmConfig):
        self.step = float(config.options.get("step", 0.2))
        self.incumbent = None  # (value, point)

    def tell(self, observations: hp.Observations) -> None:
        for x, y, status in zip(observations.x, observations.y, observations.status):
            if status != "final":
                continue
            if self.incumbent is None:
                self.incumbent = (y, x)
            elif y < self.incumbent[0]:
                self.incumbent = (y, x)
                self.step = min(MAX_STEP, self.step * SUCCESS)
            else:
                self.step = max(MIN_STEP, self.step * FAILURE)

    def mutant(self, rng: random.Random, dims: int) -> list:
        if self.incumbent is None:
            return [rng.random() for _ in range(dims)]
        return [min(1.0, max(0.0, v + rng.gauss(0.0, self.step))) for v in self.incumbent[1]]

    def propose(self, request: hp.ProposeRequest) -> list:
        rng = random.Random(request.seed)
        dims = len(self.pool[0])
        points = [self.mutant(rng, dims) for _ in range(request.n)]
        if request.allow_off_pool:
            return [hp.Proposal(point=p, acquisition=-self.step) for p in points]
        free = set(request.candidates)
        proposals = []
        for p in points:
            if not free:
                break
            row = min(free, key=lambda i: (sum((a - b) ** 2 for a, b in zip(self.pool[i], p)), i))
            free.discard(row)
            proposals.append(hp.Proposal(pool_index=row, acquisition=-self.step))
        return proposals


class Es(hp.Plugin):
    @classmethod
    def describe(cls):
        return hp.Description(
            name="py-es",
            version="0.1.0",
            description="Example Python arm: the (1+1) evolution strategy, one-fifth rule",
            arms=["ES/ONE-FIFTH"],
        )

    @classmethod
    def validate(cls, kind, name, options):
        hp.check_options(options, {"step": float})
        step = options.get("step", 0.2)
        if not MIN_STEP <= step <= MAX_STEP:
            raise hp.PluginError(f"option 'step' = {step} must be in [{MIN_STEP}, {MAX_STEP}]")

    @classmethod
    def open_arm(cls, config):
        if config.model != "ES":
            raise hp.PluginError(f"py-es has no model '{config.model}'")
        cls.validate("arm", config.model, config.options)
        return OnePlusOne(config)


Plugin, Stopping = hp.export(Es)
