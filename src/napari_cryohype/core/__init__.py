"""Qt-free core: data I/O, physics, simulation, models, training, evaluation, latent analysis."""
