"""Online continual learning with a replay buffer (La-MAML's outer loop; Tables 5, S5, S7,
Figures 3, 4, S3, S4): one run per method, benchmark and seed; tables and figures from the
runs' summaries."""
