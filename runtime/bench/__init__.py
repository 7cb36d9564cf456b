"""Benchmarks that print numbers (never timed assertions): `edge-talker bench STAGE`."""
