"""The CPU threads policy (core.threads): auto leaves a core free; the setting is checked and parsed."""

import pytest

from napari_cryohype.core import threads
from napari_cryohype.core.threads import AUTO, auto_threads, check_threads, resolve_threads, threads_setting


@pytest.mark.parametrize("cores, default, expected", [
    (1, 1, 1),     # one core: still one thread
    (2, 2, 1),     # the 2-core laptop: one core left to the window
    (8, 8, 7),
    (16, 8, 8),    # never more than torch's default (its physical cores, or OMP_NUM_THREADS)
    (4, 1, 1),
])
def test_auto_leaves_one_core_and_stays_within_torch_default(cores, default, expected):
    assert auto_threads(cores, default) == expected


def test_the_setting_resolves_to_a_number(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 6)
    monkeypatch.setattr(threads, "TORCH_DEFAULT", 4)
    assert resolve_threads(AUTO) == 4
    assert resolve_threads(0) == 4          # torch's default
    assert resolve_threads(3) == 3
    monkeypatch.setattr(threads, "TORCH_DEFAULT", 6)
    assert resolve_threads(AUTO) == 5


@pytest.mark.parametrize("bad", [-1, 1.5, True, "two", None])
def test_bad_settings_are_refused(bad):
    with pytest.raises(ValueError, match="--threads must be 'auto' or a whole number"):
        check_threads(bad)


def test_command_line_values():
    assert threads_setting("auto") == AUTO and threads_setting(" Auto ") == AUTO
    assert threads_setting("0") == 0 and threads_setting("3") == 3
    for bad in ("-1", "x", "1.5"):
        with pytest.raises(ValueError):
            threads_setting(bad)
