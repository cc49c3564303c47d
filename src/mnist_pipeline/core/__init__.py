"""What every stage shares: errors, names, params, atomic writes, the stage runner, and the two
file formats that pass between stages (tensor files and model files). Imports no torch."""
