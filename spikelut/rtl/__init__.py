"""Verilog generation, co-simulation and synthesis reports (DESIGN.md section 5)."""
