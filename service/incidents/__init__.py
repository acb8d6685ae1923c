"""Mass-casualty incidents (Pasal 6): declare, distribute over the hospitals, send, follow."""
