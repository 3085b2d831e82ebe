"""Training with surrogate gradients through time (DESIGN.md section 3)."""
