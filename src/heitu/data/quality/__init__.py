"""Dataset quality: the heitu-quality-v1 scorecard, reference LM, dataset diff, learned quality model."""
