"""The Latent Explorer's background jobs: the status line names those still running; a failure's toast."""

import pytest

pytestmark = pytest.mark.gui


def test_the_status_line_names_the_jobs_still_running(explorer, qtbot, wait_idle):
    """A job that ends must not leave its name on the line while an older one is the one still running."""
    import threading

    release = {name: threading.Event() for name in ("model", "latents")}
    try:
        explorer.jobs.start(release["model"].wait, on_done=lambda _: None, what="Loading the model for decoding")
        explorer.jobs.start(release["latents"].wait, on_done=lambda _: None, what="Computing latents")
        assert explorer.status.text() == "Loading the model for decoding… · Computing latents…"
        release["latents"].set()
        qtbot.waitUntil(lambda: len(explorer.jobs.workers) == 1, timeout=10_000)
        assert explorer.status.text() == "Loading the model for decoding…"
    finally:  # a failed check must not leave workers waiting forever
        for event in release.values():
            event.set()
    wait_idle(explorer)
    assert explorer.status.text() == ""


def test_a_failure_toast_names_the_file_on_its_first_line(explorer, tmp_path, monkeypatch):
    """napari's toast shows the first line, elided: a long folder path cut the file's name off."""
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    run = tmp_path.joinpath(*[f"a-rather-long-folder-name-{i}" for i in range(6)], "run7")
    explorer.jobs.guard("Opening the run", lambda: explorer.load_run(run))
    first, full = shown[0].split("\n")
    assert first == "Opening the run failed: run7: not a CryoHype run folder (no config.json)"
    assert str(run) in full and str(run) in explorer.status.text()
