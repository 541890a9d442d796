"""hpo_client: a client of `hpo serve`, the standard library only.

    from hpo_client import Client

    client = Client("http://127.0.0.1:7000", token="hpo_...")
    exp = client.create_experiment("quadratic", space={"hyperparams": {
        "x": {"type": "float", "value_type": "continuous", "range": [0, 1]}}},
        mode="GP", spec="EI", evals=30)
    for trial in client.trials_to_run(exp):      # ask until the experiment is over
        value = (trial["params"]["x"] - 0.3) ** 2
        client.tell(exp, trial["trial"], value=value)
    print(client.experiment(exp)["best_params"])

Every call raises `HpoError` (with the HTTP status and the service's one-line reason)
when the service refuses it. The API is described at `GET /openapi.json`.
"""

import json
import time
import urllib.error
import urllib.request

__all__ = ["Client", "HpoError"]


class HpoError(Exception):
    """A refused call: `status` is the HTTP status, the message the service's reason."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status


class Client:
    """The service at `url`, authenticated with `token` (from `hpo serve token create`)."""

    def __init__(self, url, token=None, timeout=60.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _call(self, method, path, body=None, raw=False):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                content = answer.read()
                return content.decode() if raw else json.loads(content or b"null")
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            try:
                text = json.loads(text)["error"]
            except (ValueError, KeyError, TypeError):
                pass
            raise HpoError(e.code, text) from None

    def create_experiment(self, name, space, **settings):
        """Creates an experiment (settings: mode, spec, config, seed, evals, goal,
        early_stop); returns its id."""
        return self._call("POST", "/experiments", {"name": name, "space": space, **settings})["id"]

    def experiments(self):
        """Every experiment of the service."""
        return self._call("GET", "/experiments")

    def experiment(self, experiment):
        """One experiment: progress, best value and parameters."""
        return self._call("GET", f"/experiments/{experiment}")

    def trials(self, experiment):
        """The trials told so far."""
        return self._call("GET", f"/experiments/{experiment}/trials")

    def ask(self, experiment):
        """`{"trial": {...} or None, "reason": ...}`: the next trial to evaluate."""
        return self._call("POST", f"/experiments/{experiment}/ask")

    def report(self, experiment, trial, epoch, value):
        """An interim value; True when the early-termination rule says stop."""
        answer = self._call(
            "POST", f"/experiments/{experiment}/trials/{trial}/report", {"epoch": epoch, "value": value}
        )
        return answer["decision"] == "stop"

    def heartbeat(self, experiment, trial):
        """Renews the trial's lease."""
        self._call("POST", f"/experiments/{experiment}/trials/{trial}/heartbeat")

    def tell(self, experiment, trial, value=None, failure=None, cost=None):
        """The trial's final value (lower is better), or why it failed."""
        body = {"value": value, "failure": failure, "cost": cost}
        self._call("POST", f"/experiments/{experiment}/trials/{trial}/tell", body)

    def plot(self, experiment, kind="convergence"):
        """A plot as SVG text: convergence, curves, arms, workers, parallel or importance."""
        return self._call("GET", f"/experiments/{experiment}/plots/{kind}", raw=True)

    def stop(self, experiment):
        """Ends the experiment now."""
        self._call("POST", f"/experiments/{experiment}/stop")

    def trials_to_run(self, experiment, wait=0.5):
        """Yields trials until the experiment is over (waiting while other clients' trials
        are in flight)."""
        while True:
            answer = self.ask(experiment)
            if answer["trial"] is not None:
                yield answer["trial"]
            elif self.experiment(experiment)["finished"]:
                return
            else:
                time.sleep(wait)
