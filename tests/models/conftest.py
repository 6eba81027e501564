"""Data shared by the concept models' tests."""
import pytest
import torch

from pyrodisent.data.arrays import ArrayDataset

#: two labels: binary and three classes
CONCEPT_CLASSES = (2, 3)


@pytest.fixture
def half_labelled_toy():
    """200 points x = (y₁, y₂, two noise features) whose labels y are read off x; every other point labelled."""
    generator = torch.Generator().manual_seed(1)
    n = 200
    labels = torch.stack([torch.randint(0, 2, (n,), generator=generator),
                          torch.randint(0, 3, (n,), generator=generator)], 1)
    x = torch.cat([labels.float(), torch.randn(n, 2, generator=generator) * 0.1], 1)
    return ArrayDataset(x, extras=dict(labels=labels, labelled=torch.arange(n) % 2 == 0)), labels


@pytest.fixture
def core_label_accuracy():
    """A function: the accuracy per label (L,) of a concept model's classifier on its encoded points."""
    def accuracy(model, data, labels) -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            predicted = model.predict_labels(model.encode(data.batch(torch.arange(len(data)))))
        return (predicted == labels).float().mean(0)
    return accuracy
