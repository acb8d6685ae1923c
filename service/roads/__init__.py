"""Live road conditions: closures and slowdowns stored, applied by every worker, lifted."""
