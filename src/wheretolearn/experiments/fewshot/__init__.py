"""Episodic few-shot meta-learning (Tables 1-4, Figure 1): train one run per method, shot and
seed, evaluate its best checkpoint on each target dataset, aggregate over seeds."""
