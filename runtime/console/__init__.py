"""The web console: static files served by the REST API (runtime.control.http); no build step."""
