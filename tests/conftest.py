"""Shared fixtures: models are built once per session (building is the slow part of the suite)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import background  # noqa: E402
import pytest  # noqa: E402

_CACHE: dict = {}


def pytest_collection_modifyitems(session, config, items):
    """Tests marked ``quiet`` (they time the machine) go last, after the background jobs."""
    items.sort(key=lambda item: item.get_closest_marker("quiet") is not None)


def pytest_collection_finish(session):
    """Start the background jobs of the selected tests (:mod:`background`)."""
    if session.config.option.collectonly:
        return
    background.start([m.args[0] for item in session.items for m in item.iter_markers("background")])


@pytest.fixture(autouse=True)
def _quiet_machine(request):
    """A ``quiet`` test waits until no background job shares the machine."""
    if request.node.get_closest_marker("quiet") is not None:
        background.wait_all()


@pytest.fixture(scope="session")
def build():
    """``build(name, **kwargs)`` returns a cached model (never mutate it in a test)."""
    import archbench

    def _build(name, **kwargs):
        key = (name, tuple(sorted(kwargs.items())))
        if key not in _CACHE:
            _CACHE[key] = archbench.get_model(name, **kwargs)
        return _CACHE[key]

    return _build


@pytest.fixture(scope="module")
def user_models():
    """The tiny user models of ``tests/data/user_models.py``, registered for one test module."""
    from archbench import registry

    names = registry.load_model_file(os.path.join(os.path.dirname(__file__), "data", "user_models.py"))
    yield names
    for n in names:
        registry.unregister_model(n)
