"""rujuk's service edge: settings, HTTP API, CLI. The only package that reads the environment."""
