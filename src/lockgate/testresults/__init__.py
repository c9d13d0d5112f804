"""Test results: JUnit XML reports found after a step, parsed into typed records."""
