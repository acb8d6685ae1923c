"""The world as data: facilities, settlements, regions and road networks (imports no sibling)."""
