"""Never reached: its package fails first."""
