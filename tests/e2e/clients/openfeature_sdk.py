"""OpenFeature's Python SDK with its OFREP provider (openfeature-sdk and
openfeature-provider-ofrep from PyPI) evaluating lockgate's flags, run in a venv of its own:
python openfeature_sdk.py URL KEY. Each stdin line is {"flag", "kind", "default", "users"};
each answer line is {user: [value, reason, variant, error code]}."""

import json
import sys

from openfeature import api  # type: ignore[import-not-found]
from openfeature.contrib.provider.ofrep import OFREPProvider  # type: ignore[import-not-found]
from openfeature.evaluation_context import EvaluationContext  # type: ignore[import-not-found]

url, key = sys.argv[1:3]
api.set_provider(OFREPProvider(url, headers_factory=lambda: {"Authorization": f"Bearer {key}"}))
client = api.get_client()
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    asked = json.loads(line)
    resolve = getattr(client, f"get_{asked['kind']}_details")
    answers = {}
    for user in asked["users"]:
        seen = resolve(asked["flag"], asked["default"], EvaluationContext(targeting_key=user))
        code = seen.error_code.value if seen.error_code else None
        answers[user] = [seen.value, seen.reason, seen.variant, code]
    print(json.dumps(answers), flush=True)
