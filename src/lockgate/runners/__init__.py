"""Runners on other machines: jobs handed to `lockgate worker` processes through a Celery broker
(Redis), their records and artifacts going through the server's worker API."""
