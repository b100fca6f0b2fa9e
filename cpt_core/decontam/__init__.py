"""Training pairs kept apart from the evaluation sets the project reports (decontamination)."""
