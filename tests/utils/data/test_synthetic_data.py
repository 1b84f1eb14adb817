from dataclasses import dataclass

import pytest
import torch
from torch.utils.data import DataLoader

from torchtnt.utils.data import AbstractRandomDataset
from torchtnt.utils.data.synthetic_data import generate_random_square_image_tensor


@dataclass
class RandomVectors(AbstractRandomDataset[torch.Tensor]):
    dim: int = 3

    def _generate_random_item(self) -> torch.Tensor:
        return torch.randn(self.dim)


def test_length_and_items() -> None:
    dataset = RandomVectors(size=5, dim=4)
    assert len(dataset) == 5
    assert dataset[0].shape == (4,)
    assert dataset[-5].shape == (4,)
    assert len(list(dataset)) == 5
    assert len(RandomVectors()) == 100


def test_items_follow_the_torch_seed() -> None:
    torch.manual_seed(0)
    first = RandomVectors(size=2)[1]
    torch.manual_seed(0)
    torch.testing.assert_close(RandomVectors(size=2)[0], first)


def test_out_of_range_index_raises_index_error() -> None:
    dataset = RandomVectors(size=2)
    with pytest.raises(IndexError, match="idx=2 is out of range"):
        dataset[2]
    with pytest.raises(IndexError):
        dataset[-3]


def test_works_with_dataloader() -> None:
    batches = list(DataLoader(RandomVectors(size=5, dim=2), batch_size=2))
    assert [b.shape for b in batches] == [(2, 2), (2, 2), (1, 2)]


def test_bad_size_and_abstractness() -> None:
    with pytest.raises(ValueError, match="size=-1 is invalid"):
        RandomVectors(size=-1)
    with pytest.raises(TypeError):
        AbstractRandomDataset()  # type: ignore[abstract]


def test_square_image_tensor() -> None:
    image = generate_random_square_image_tensor(num_channels=3, side_length=8)
    assert image.shape == (3, 8, 8)
    assert image.dtype == torch.float32
    assert float(image.min()) >= 0.0 and float(image.max()) < 1.0
    with pytest.raises(ValueError, match="side_length=0 is invalid"):
        generate_random_square_image_tensor(3, 0)
