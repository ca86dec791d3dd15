"""Readers and writers for the files cryo-EM users have: MRC stacks and maps, cryoDRGN .pkl, RELION .star,
cryoSPARC .cs. Every reader returns the same types, in cryoDRGN's conventions."""
