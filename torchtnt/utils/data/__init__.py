"""Data helpers: iterating over several dataloaders, GPU prefetching, profiling, toy data."""

from torchtnt.utils.data.data_prefetcher import CudaDataPrefetcher
from torchtnt.utils.data.iterators import (
    AllDatasetBatchesIterator,
    DataIterationStrategy,
    DataIterationStrategyRegistry,
    InOrderIterator,
    MultiIterator,
    RandomizedBatchSamplerIterator,
    RoundRobinIterator,
)
from torchtnt.utils.data.multi_dataloader import MultiDataLoader
from torchtnt.utils.data.profile_dataloader import profile_dataloader
from torchtnt.utils.data.synthetic_data import AbstractRandomDataset

__all__ = [
    "AbstractRandomDataset",
    "AllDatasetBatchesIterator",
    "CudaDataPrefetcher",
    "DataIterationStrategy",
    "DataIterationStrategyRegistry",
    "InOrderIterator",
    "MultiDataLoader",
    "MultiIterator",
    "RandomizedBatchSamplerIterator",
    "RoundRobinIterator",
    "profile_dataloader",
]
