"""``train.distributed``: the single-process context, device refusals, and a real 2-process gloo group."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch import nn

from mobilenets.train.distributed import (
    DistributedContext,
    all_reduce_sum,
    barrier,
    broadcast_buffers,
    broadcast_flag,
    init_distributed,
    launched_by_torchrun,
    ranks_agree,
    resolve_device,
    shutdown,
    weights_digest,
)

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def no_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TORCHRUN_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def small_net(seed: int = 0) -> nn.Module:
    """A conv + BatchNorm pair: parameters and buffers."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


# -- the single-process context --------------------------------------------------------------------
def test_the_default_context_is_a_world_of_one_on_the_cpu() -> None:
    context = DistributedContext()
    assert (context.rank, context.local_rank, context.world_size) == (0, 0, 1)
    assert context.device == torch.device("cpu")
    assert not context.enabled and context.is_main


def test_a_context_of_several_processes_is_enabled_and_only_rank_0_is_main() -> None:
    assert DistributedContext(rank=0, world_size=2).is_main
    second = DistributedContext(rank=1, local_rank=1, world_size=2)
    assert second.enabled and not second.is_main


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"RANK": "0", "WORLD_SIZE": "2"}, True),
        ({"RANK": "0", "WORLD_SIZE": "1"}, False),  # torchrun with one process: nothing to join
        ({"WORLD_SIZE": "2"}, False),
        ({"RANK": "1"}, False),
        ({}, False),
    ],
)
def test_launched_by_torchrun_reads_the_environment(
    no_torchrun: None, monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], expected: bool
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert launched_by_torchrun() is expected


def test_without_torchrun_init_gives_a_single_process_context_and_no_group(no_torchrun: None) -> None:
    context = init_distributed("cpu")
    assert context == DistributedContext(device=torch.device("cpu"))
    assert not dist.is_initialized()
    shutdown(context)  # a no-op: nothing was started
    assert not dist.is_initialized()


# -- devices ---------------------------------------------------------------------------------------
def test_auto_follows_cuda_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_cpu_is_passed_through() -> None:
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("name", ["mps", "meta", "banana", "", "cuda:x"])
def test_devices_mobilenets_does_not_run_on_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a device mobilenets runs on") as error:
        resolve_device(name)
    assert repr(name) in str(error.value)
    assert "auto, cpu, cuda or cuda:N" in str(error.value)


def test_cuda_without_cuda_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match="CUDA is not available; use --device cpu") as error:
            resolve_device(name)
        assert repr(name) in str(error.value)


def test_a_cuda_index_beyond_the_devices_names_the_valid_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match=r"'cuda:2': this machine has 2 CUDA devices; use cuda:0 to cuda:1"):
        resolve_device("cuda:2")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda")


# -- collectives without a process group -----------------------------------------------------------
def test_collectives_in_a_single_process_are_identities() -> None:
    context = DistributedContext()
    values = torch.tensor([1.5, -2.0, 3.0])
    summed = all_reduce_sum(values, context)
    assert summed is values  # nothing to sum with: the same tensor, untouched
    assert torch.equal(summed, torch.tensor([1.5, -2.0, 3.0]))
    assert broadcast_flag(True, context) is True
    assert broadcast_flag(False, context) is False
    model = small_net()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    broadcast_buffers(model, context)
    barrier(context)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not dist.is_initialized()


def test_ranks_agree_in_a_single_process_is_its_own_digest() -> None:
    model = small_net()
    agree, digests = ranks_agree(model, DistributedContext())
    assert agree is True
    assert digests == [weights_digest(model)]


def test_the_digest_follows_the_bits_of_every_parameter_and_buffer() -> None:
    first, twin = small_net(seed=0), small_net(seed=0)
    digest = weights_digest(first)
    assert len(digest) == 64 and int(digest, 16) >= 0  # SHA-256 in hex
    assert weights_digest(twin) == digest  # same seed, same bits
    assert weights_digest(small_net(seed=1)) != digest
    with torch.no_grad():
        weight = twin[0].weight
        weight.view(-1)[0] = torch.nextafter(weight.view(-1)[0], torch.tensor(float("inf")))  # one ulp
    assert weights_digest(twin) != digest
    buffered = small_net(seed=0)
    buffered[1].running_mean += 1e-3  # a buffer, not a parameter
    assert weights_digest(buffered) != digest
    zero, negative_zero = small_net(seed=0), small_net(seed=0)
    with torch.no_grad():
        zero[0].bias.zero_()
        negative_zero[0].bias.copy_(-torch.zeros(4))  # equal values, different bits
    assert torch.equal(zero[0].bias, negative_zero[0].bias)
    assert weights_digest(zero) != weights_digest(negative_zero)


def test_the_digest_is_the_same_for_a_non_contiguous_tensor() -> None:
    class Holder(nn.Module):
        def __init__(self, tensor: torch.Tensor) -> None:
            super().__init__()
            self.register_buffer("x", tensor)

    base = torch.arange(12, dtype=torch.float32).view(3, 4)
    assert weights_digest(Holder(base.t())) == weights_digest(Holder(base.t().contiguous()))


# -- a real process group --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _rank_main(rank: int, world_size: int, port: int, out: str) -> None:
    """One process of a 2-rank gloo group: exercise every collective and write what it saw."""
    os.environ.update(
        {
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world_size),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
        }
    )
    torch.set_num_threads(1)
    context = init_distributed("cpu")
    seen: dict[str, object] = {
        "context": [context.rank, context.local_rank, context.world_size, str(context.device)],
        "initialized": dist.is_initialized(),
        "backend": dist.get_backend(),
    }
    values = torch.tensor([float(rank + 1), 10.0 * (rank + 1)])
    summed = all_reduce_sum(values, context)
    seen["sum"] = summed.tolist()
    seen["own_values_kept"] = values.tolist()  # the input is not reduced in place
    seen["flag_on_rank_1"] = broadcast_flag(rank == 1, context)
    seen["flag_nowhere"] = broadcast_flag(False, context)
    seen["flag_everywhere"] = broadcast_flag(True, context)
    model = small_net(seed=0)  # the same initial weights on both ranks
    seen["agree_same"] = list(ranks_agree(model, context))
    model[1].running_mean.fill_(float(rank + 1))  # BatchNorm statistics drift apart per rank
    seen["agree_drifted"] = ranks_agree(model, context)[0]
    broadcast_buffers(model, context)
    seen["running_mean"] = model[1].running_mean.tolist()
    seen["agree_after_broadcast"] = ranks_agree(model, context)[0]
    barrier(context)
    shutdown(context)
    seen["initialized_after_shutdown"] = dist.is_initialized()
    Path(out, f"rank{rank}.json").write_text(json.dumps(seen))


@pytest.mark.slow
def test_two_gloo_processes_sum_agree_and_share_buffers(tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    mp.spawn(_rank_main, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    seen = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    for rank, record in enumerate(seen):
        assert record["context"] == [rank, rank, 2, "cpu"]
        assert record["initialized"] is True and record["backend"] == "gloo"
        assert record["sum"] == [1.0 + 2.0, 10.0 + 20.0]
        assert record["own_values_kept"] == [float(rank + 1), 10.0 * (rank + 1)]
        assert record["flag_on_rank_1"] is True  # true somewhere: true everywhere
        assert record["flag_nowhere"] is False and record["flag_everywhere"] is True
        agree, digests = record["agree_same"]
        assert agree is True and len(digests) == 2 and digests[0] == digests[1]
        assert record["agree_drifted"] is False
        assert record["running_mean"] == [1.0] * 4  # rank 0's statistics
        assert record["agree_after_broadcast"] is True
        assert record["initialized_after_shutdown"] is False
    assert seen[0]["agree_same"][1] == seen[1]["agree_same"][1]
    assert seen[0]["agree_same"][1][0] == weights_digest(small_net(seed=0))
