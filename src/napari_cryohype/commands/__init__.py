"""One module per ``cryohype`` subcommand. Each defines ``add_parser(subparsers)``, which registers the
subcommand and sets ``func`` to a function ``run(args) -> int``. :mod:`napari_cryohype.cli` discovers them."""
