"""RL building blocks shared by the algorithms: fixed-strategy RLModules and a fast small categorical."""
