"""Planning: demand, scenarios, simulation through the live matching engine, comparison."""
