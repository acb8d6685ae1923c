"""Rule packs and the matching engine (imports geodata models only). Built in issue 4."""
