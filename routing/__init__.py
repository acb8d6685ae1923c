"""Road graph queries: snapping, travel times, ETAs (imports geodata only). Built in issue 3."""
