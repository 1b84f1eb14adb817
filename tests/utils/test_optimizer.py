import pytest
import torch

from torchtnt.utils.optimizer import extract_lr_from_optimizer, init_optim_state


def _linear() -> torch.nn.Linear:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2)


def test_init_optim_state_creates_adam_state_without_moving_weights() -> None:
    module = _linear()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    optim = torch.optim.Adam(module.parameters(), lr=0.1)
    assert not optim.state

    init_optim_state(optim)

    for name, value in module.state_dict().items():
        assert torch.equal(value, before[name]), name
    for param in module.parameters():
        assert param.grad is None
        state = optim.state[param]
        assert int(state["step"]) == 1
        assert torch.equal(state["exp_avg"], torch.zeros_like(param))
        assert torch.equal(state["exp_avg_sq"], torch.zeros_like(param))


def test_init_optim_state_is_a_noop_when_state_exists() -> None:
    module = _linear()
    optim = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
    init_optim_state(optim)
    buffers = {id(p): optim.state[p]["momentum_buffer"] for p in module.parameters()}
    module.weight.grad = torch.ones_like(module.weight)  # would raise if not skipped
    init_optim_state(optim)
    for p in module.parameters():
        assert optim.state[p]["momentum_buffer"] is buffers[id(p)]


def test_init_optim_state_skips_frozen_parameters() -> None:
    module = _linear()
    module.bias.requires_grad_(False)
    optim = torch.optim.Adam(module.parameters())
    init_optim_state(optim)
    assert set(optim.state) == {module.weight}
    assert module.bias.grad is None


def test_init_optim_state_refuses_existing_gradients() -> None:
    module = _linear()
    optim = torch.optim.Adam(module.parameters())
    module(torch.ones(1, 3)).sum().backward()
    grad = module.weight.grad.clone()
    with pytest.raises(RuntimeError, match="without gradients"):
        init_optim_state(optim)
    assert torch.equal(module.weight.grad, grad)
    assert not optim.state


def test_extract_lr_from_optimizer_names_and_dedupes_groups() -> None:
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(5)]
    optim = torch.optim.SGD(
        [
            {"params": [params[0]], "lr": 0.1},
            {"params": [params[1]], "lr": 0.2, "name": "backbone"},
            {"params": [params[2]], "lr": 0.3},
            {"params": [params[3]], "lr": 0.4, "name": "backbone"},
            {"params": [params[4]], "lr": 0.5, "name": "head"},
        ],
        lr=1.0,
    )
    assert extract_lr_from_optimizer(optim, "lr-SGD") == {
        "lr-SGD/pg:0": 0.1,
        "lr-SGD/backbone:0": 0.2,
        "lr-SGD/pg:1": 0.3,
        "lr-SGD/backbone:1": 0.4,
        "lr-SGD/head:0": 0.5,
    }


def test_extract_lr_follows_scheduler_updates() -> None:
    optim = torch.optim.SGD(_linear().parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optim, step_size=1, gamma=0.5)
    optim.step()
    scheduler.step()
    assert extract_lr_from_optimizer(optim, "opt") == {"opt/pg:0": 0.5}


def test_extract_lr_unwraps_tensor_learning_rates() -> None:
    optim = torch.optim.Adam(_linear().parameters(), lr=torch.tensor(0.25))
    lrs = extract_lr_from_optimizer(optim, "p")
    assert lrs == {"p/pg:0": 0.25}
    assert type(lrs["p/pg:0"]) is float
