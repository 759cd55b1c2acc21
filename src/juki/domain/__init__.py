"""The domain of the municipal register (既存住基): pure Python, standard library only."""
