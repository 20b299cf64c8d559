"""Inner-loop gradient modulation: one inner loop, update rules as plug-ins, the outer loops."""
