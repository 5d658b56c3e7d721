"""Image grids (ganscope.imageio): pixel layout on a tiny known input, value mapping, PNG round trip."""
import numpy as np
import pytest
import torch
from PIL import Image

from ganscope.errors import UsageError
from ganscope.imageio import grid_array, save_grid, to_uint8


def test_value_mapping_clamps_and_rounds():
    assert to_uint8(np.array([-2.0, -1.0, 0.0, 1.0, 3.0])).tolist() == [0, 0, 128, 255, 255]


def test_layout_of_three_2x2_images_two_per_row():
    images = torch.stack([torch.full((1, 2, 2), v) for v in (-1.0, 0.0, 1.0)])
    images[0, 0, 0, 1] = 1.0  # one marked pixel: image 0, row 0, column 1
    g = grid_array(images, nrow=2, pad_value=-1.0)[..., 0]
    B, M, W = 0, 128, 255
    expected = np.array([
        [B, B, B, B, B, B, B],
        [B, B, W, B, M, M, B],
        [B, B, B, B, M, M, B],
        [B, B, B, B, B, B, B],
        [B, W, W, B, B, B, B],  # image 2 at row 1, col 0; the empty cell stays padding
        [B, W, W, B, B, B, B],
        [B, B, B, B, B, B, B],
    ], dtype=np.uint8)
    np.testing.assert_array_equal(g, expected)


def test_default_nrow_is_ceil_sqrt_and_channels_last():
    g = grid_array(np.zeros((5, 3, 4, 6)))
    assert g.shape == (2 * 5 + 1, 3 * 7 + 1, 3) and g.dtype == np.uint8


@pytest.mark.parametrize("channels,mode", [(1, "L"), (3, "RGB")])
def test_save_grid_writes_the_array_as_png(tmp_path, channels, mode):
    images = torch.rand(4, channels, 5, 5) * 2 - 1
    path = save_grid(images, tmp_path / "sub" / "grid.png", nrow=3)
    img = Image.open(path)
    assert img.mode == mode
    np.testing.assert_array_equal(np.asarray(img).reshape(img.size[1], img.size[0], -1), grid_array(images, 3))
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]


@pytest.mark.parametrize("images,nrow,field", [
    (np.zeros((2, 2, 4, 4)), None, "images"),
    (np.zeros((4, 4)), None, "images"),
    (np.full((1, 1, 2, 2), np.nan), None, "images"),
    (np.zeros((2, 1, 4, 4)), 0, "nrow"),
])
def test_errors_name_the_field(images, nrow, field):
    with pytest.raises(UsageError, match=field):
        grid_array(images, nrow)
