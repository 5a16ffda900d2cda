"""The zoo: importing this package registers every builder (one module per family)."""

import importlib
import pkgutil

FAMILY_MODULES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))

for _name in FAMILY_MODULES:
    importlib.import_module(f"{__name__}.{_name}")
