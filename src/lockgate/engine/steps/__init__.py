"""Step kinds, each behind the Step protocol of `base.py`: `run:` scripts (`script.py`),
composite actions (`composite.py`), JavaScript actions (`javascript.py`) and built-in actions
(`builtin.py`); `kinds.py` says which a step is. A reusable workflow is called by a job, not a
step: `engine/calls.py`."""
