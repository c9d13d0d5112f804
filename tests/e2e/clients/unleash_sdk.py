"""Unleash's own Python SDK (UnleashClient from PyPI) reading lockgate's flags, run in a venv of
its own: python unleash_sdk.py URL KEY CACHE_DIR. Each line read on stdin is a JSON object
{"flag": NAME, "users": [ids], "properties": {...}} (properties optional); each answer line is
{id: enabled} as the SDK evaluates it."""

import json
import sys

from UnleashClient import UnleashClient  # type: ignore[import-not-found]

url, key, cache = sys.argv[1:4]
client = UnleashClient(
    url=f"{url}/api",
    app_name="shop",
    custom_headers={"Authorization": key},
    refresh_interval=1,
    metrics_interval=1,
    cache_directory=cache,
)
client.initialize_client()
print(json.dumps({"ready": client.is_initialized}), flush=True)
for line in sys.stdin:
    asked = json.loads(line)
    properties = asked.get("properties", {})
    answers = {
        user: client.is_enabled(asked["flag"], {"userId": user, "properties": properties})
        for user in asked["users"]
    }
    print(json.dumps(answers), flush=True)
client.destroy()
