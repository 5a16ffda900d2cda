"""Sub-commands contributed by feature modules: each file defines a click command named ``command``."""
