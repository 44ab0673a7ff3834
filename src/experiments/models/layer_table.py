"""The layer table of a network: output shape, parameters, FLOPs and receptive field per layer.

FLOPs are counted by ``torch.utils.flop_counter`` (a multiply-add is 2 FLOPs; MACs = FLOPs / 2). The
forward pass runs on fake tensors (shapes only, no arithmetic), so AlexNet at 224x224 takes
milliseconds; torch's counter registers matrix products and convolutions, not pooling or norms.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from experiments.models.layers import EuclideanRBF, PartialConv2d, Subsampling2d
from experiments.models.pools import BlurMaxPool2d, StridedConv2d

CONV_TYPES = (nn.Conv2d, PartialConv2d)
FC_TYPES = (nn.Linear, EuclideanRBF)
# Element-wise modules that change neither shape nor receptive field: left out of the rows.
QUIET_TYPES = (nn.Dropout, nn.Flatten, nn.Identity)


def summarize(net: nn.Module, channels: int, image_size: int) -> dict[str, Any]:
    """Per-layer rows and totals for one ``channels x image_size x image_size`` image.

    Returns ``{"input": [...], "layers": [row, ...], "totals": {...}, "shares": {...}}``; each row has
    ``name`` (module path), ``layer`` (the paper's name where the model gives one), ``type``,
    ``kind`` (conv, fc, pool, norm, other), ``output_shape``, ``params``, ``flops``, ``macs`` and
    ``receptive_field`` (pixels of the input one output unit sees; ``None`` once a layer is global).
    ``shares`` splits parameters and FLOPs into conv and FC layers (and the rest).
    """
    records: list[tuple[str, nn.Module, tuple[int, ...], tuple[int, ...]]] = []
    paths = {module: path for path, module in net.named_modules()}

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        in_shape = tuple(inputs[0].shape) if inputs and isinstance(inputs[0], torch.Tensor) else ()
        out_shape = tuple(output.shape) if isinstance(output, torch.Tensor) else ()
        records.append((paths[module], module, in_shape, out_shape))

    handles = [module.register_forward_hook(hook) for module in _layers(net)]
    try:
        counts = _count_flops(net, channels, image_size)
    finally:
        for handle in handles:
            handle.remove()
    root = type(net).__name__
    names = getattr(net, "layer_names", {})
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    rf, jump = 1, 1
    for path, module, in_shape, out_shape in records:
        if path in seen:
            continue
        seen.add(path)
        rf, jump = _receptive_field(module, in_shape, out_shape, rf, jump)
        kind = _kind(module)
        if (isinstance(module, QUIET_TYPES) and path not in names) or kind == "activation":
            continue  # a named one stays a row: pooling=none's Identity at S2
        flops = int(sum(counts.get(f"{root}.{path}", {}).values()))
        rows.append(
            {
                "name": path,
                "layer": names.get(path, ""),
                "type": type(module).__name__,
                "kind": kind,
                "output_shape": list(out_shape[1:]),
                "params": sum(p.numel() for p in module.parameters()),
                "trainable_params": sum(p.numel() for p in module.parameters() if p.requires_grad),
                "flops": flops,
                "macs": flops // 2,
                "receptive_field": rf,
            }
        )
    total_params = sum(p.numel() for p in net.parameters())
    total_flops = int(sum(counts.get("Global", {}).values()))
    totals = {
        "params": total_params,
        "trainable_params": sum(p.numel() for p in net.parameters() if p.requires_grad),
        "fixed_values": sum(
            b.numel() for m in net.modules() if isinstance(m, EuclideanRBF) for b in m.buffers()
        ),
        "flops": total_flops,
        "macs": total_flops // 2,
    }
    shares: dict[str, dict[str, float]] = {}
    for key, total in (("params", total_params), ("flops", total_flops)):
        conv = sum(r[key] for r in rows if r["kind"] == "conv")
        fc = sum(r[key] for r in rows if r["kind"] == "fc")
        shares[key] = {
            "conv": conv / total if total else 0.0,
            "fc": fc / total if total else 0.0,
            "other": (total - conv - fc) / total if total else 0.0,
        }
    return {"input": [channels, image_size, image_size], "layers": rows, "totals": totals, "shares": shares}


# Modules with children that count as one layer (the pool inside a subsampling layer, the activation
# inside a strided-conv pool and the max pool inside a blur pool are no rows).
LAYER_TYPES: tuple[type[nn.Module], ...] = (Subsampling2d, StridedConv2d, BlurMaxPool2d)


def _layers(net: nn.Module) -> list[nn.Module]:
    """The modules that are rows: leaves, and :data:`LAYER_TYPES` (not their children)."""
    found: list[nn.Module] = []

    def visit(module: nn.Module) -> None:
        for child in module.children():
            if isinstance(child, LAYER_TYPES) or not any(True for _ in child.children()):
                found.append(child)
            else:
                visit(child)

    visit(net)
    return found


def _count_flops(net: nn.Module, channels: int, image_size: int) -> dict[str, dict[Any, int]]:
    """One forward pass under the flop counter: on fake tensors where possible, else on zeros."""
    was_training = net.training
    net.eval()
    try:
        try:
            from torch._subclasses.fake_tensor import FakeTensorMode

            with FakeTensorMode(allow_non_fake_inputs=True):
                return _forward_counted(net, torch.zeros(1, channels, image_size, image_size))
        except Exception:  # a module fake tensors cannot run: count on real zeros instead
            return _forward_counted(net, torch.zeros(1, channels, image_size, image_size))
    finally:
        net.train(was_training)


def _forward_counted(net: nn.Module, sample: torch.Tensor) -> dict[str, dict[Any, int]]:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(sample)
    return counter.get_flop_counts()


def _kind(module: nn.Module) -> str:
    """conv, fc, pool, norm, activation or other.

    A module with a window (``kernel_size``) that is no conv layer is a pool, whatever its class: a
    pooling option a user adds is a row too.
    """
    if isinstance(module, CONV_TYPES):
        return "conv"
    if isinstance(module, FC_TYPES):
        return "fc"
    name = type(module).__name__
    if "Pool" in name or isinstance(module, Subsampling2d) or hasattr(module, "kernel_size"):
        return "pool"
    if "Norm" in name:
        return "norm"
    if isinstance(module, QUIET_TYPES):
        return "other"
    if not any(True for _ in module.parameters()) and not any(True for _ in module.children()):
        return "activation"
    return "other"


def _first(value: Any) -> int:
    return int(value[0]) if isinstance(value, tuple | list) else int(value)


def _receptive_field(
    module: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...], rf: int | None, jump: int
) -> tuple[int | None, int]:
    """Grow ``rf`` by ``(k - 1) * dilation * jump`` and ``jump`` by the stride; ``None`` once global.

    ``k`` is a module's ``reach`` where it has one (a blur pool: its max window plus the blur filter)."""
    if rf is None:
        return None, jump
    if isinstance(module, nn.Flatten | nn.Linear | EuclideanRBF):
        return None, jump
    if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):
        size_in, size_out = in_shape[-1], out_shape[-1]
        if size_in == size_out:
            return rf, jump
        stride = max(size_in // size_out, 1)
        kernel = size_in - (size_out - 1) * stride
        return rf + (kernel - 1) * jump, jump * stride
    kernel = getattr(module, "reach", None) or getattr(module, "kernel_size", None)
    if kernel is None:
        return rf, jump
    stride = getattr(module, "stride", None) or kernel
    dilation = getattr(module, "dilation", 1)
    return rf + (_first(kernel) - 1) * _first(dilation) * jump, jump * _first(stride)


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a plain-text table with totals and the conv/FC shares."""
    header = ("layer", "module", "type", "output", "params", "MFLOPs", "RF")
    lines = []
    for row in summary["layers"]:
        rf = row["receptive_field"]
        lines.append(
            (
                row["layer"] or "-",
                row["name"],
                row["type"],
                "x".join(str(d) for d in row["output_shape"]),
                f"{row['params']:,}",
                f"{row['flops'] / 1e6:,.2f}",
                "global" if rf is None else str(rf),
            )
        )
    totals, shares = summary["totals"], summary["shares"]
    lines.append(("total", "", "", "", f"{totals['params']:,}", f"{totals['flops'] / 1e6:,.2f}", ""))
    widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]
    right = {4, 5, 6}

    def render(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    rule = "  ".join("-" * w for w in widths)
    body = [render(header), rule, *(render(r) for r in lines[:-1]), rule, render(lines[-1])]
    c, h, w = summary["input"]
    body += [
        "",
        f"input {c}x{h}x{w}; trainable parameters {totals['trainable_params']:,}"
        + (f"; fixed (not trained) values {totals['fixed_values']:,}" if totals["fixed_values"] else ""),
        f"forward FLOPs per image {totals['flops']:,} = {totals['macs']:,} MACs ({totals['flops'] / 1e9:.3f} GFLOPs)",
        "conv layers: {:.1%} of parameters, {:.1%} of FLOPs; FC layers: {:.1%} of parameters, {:.1%} of FLOPs".format(
            shares["params"]["conv"], shares["flops"]["conv"], shares["params"]["fc"], shares["flops"]["fc"]
        ),
    ]
    return "\n".join(body)


def summary_metrics(summary: dict[str, Any], prefix: str = "model/") -> dict[str, float]:
    """Totals and shares as flat numbers for a run's summary: ``model/params``, ``model/flops``, ...

    One value per run: they go to the W&B run's summary (``training/loggers.py::log_model_facts``), never
    into a logger's metric stream.
    """
    metrics = {f"{prefix}{key}": float(value) for key, value in summary["totals"].items()}
    for key, shares in summary["shares"].items():
        metrics |= {f"{prefix}{part}_{key}_share": float(value) for part, value in shares.items()}
    return metrics
