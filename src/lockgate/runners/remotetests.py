"""The test results of a job run on a worker go to the server's store, and the quarantines the
job honours are the server's (the engine's `TestLedger`): flaky-test evidence is the same
wherever a job ran."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ..store.testresults import Quarantine, TestResult
from .client import WorkerClient
from .payload import Quarantines, TestResults, TestsAsked


class RemoteTests:
    __test__ = False

    def __init__(self, client: WorkerClient, assignment: int) -> None:
        self.client, self.assignment = client, assignment

    def add(self, results: Sequence[TestResult]) -> None:
        if results:
            self.client.tests(self.assignment, "results",
                              TestResults.dump_json(list(results)).decode())  # fmt: skip

    def of_tests(self, tests: Sequence[str], since: float) -> list[TestResult]:
        asked = TestsAsked(tests=list(tests), since=since).model_dump_json()
        return TestResults.validate_json(self.client.tests(self.assignment, "history", asked))

    def quarantine(self, entry: Quarantine) -> None:
        self.client.tests(self.assignment, "quarantine",
                          Quarantines.dump_json([entry]).decode())  # fmt: skip

    def quarantines(self) -> list[Quarantine]:
        return Quarantines.validate_json(self.client.tests(self.assignment, "quarantines",
                                                           json.dumps({})))  # fmt: skip
