"""Particle stacks are drawn in 2D only (napari's viewer model, without Qt): hidden while the viewer shows
3D, shown again in 2D, left alone when the user shows one in 3D; other layers untouched."""

import numpy as np
import pytest

from napari_cryohype.widgets.stacks import STACK, follow


@pytest.fixture
def viewer():
    from napari.components import ViewerModel

    viewer = ViewerModel()
    follow(viewer)
    follow(viewer)                         # once per viewer: the second call adds nothing
    return viewer


def add_stack(viewer):
    return viewer.add_image(np.zeros((200, 32, 32), np.float32), scale=(1.0, 4.0, 4.0), metadata={STACK: True})


def test_a_stack_is_hidden_in_3d_and_shown_again_in_2d(viewer):
    stack = add_stack(viewer)
    volume = viewer.add_image(np.zeros((32, 32, 32), np.float32), scale=(4.0,) * 3)
    viewer.dims.ndisplay = 3
    assert not stack.visible and volume.visible
    viewer.dims.ndisplay = 2
    assert stack.visible and volume.visible


def test_a_stack_added_in_3d_waits_for_2d(viewer):
    viewer.dims.ndisplay = 3
    stack = add_stack(viewer)
    assert not stack.visible
    viewer.dims.ndisplay = 2
    assert stack.visible


def test_the_users_own_choice_stands(viewer):
    stack = add_stack(viewer)
    viewer.dims.ndisplay = 3
    stack.visible = True                       # the user shows it in 3D: it stays, whatever is added
    viewer.add_image(np.zeros((32, 32, 32), np.float32))
    assert stack.visible
    viewer.dims.ndisplay = 2
    stack.visible = False                      # hidden by the user in 2D: it stays hidden through 3D and back
    viewer.dims.ndisplay = 3
    viewer.dims.ndisplay = 2
    assert not stack.visible


def test_other_image_stacks_are_not_ours(viewer):
    other = viewer.add_image(np.zeros((20, 32, 32), np.float32))
    viewer.dims.ndisplay = 3
    assert other.visible
