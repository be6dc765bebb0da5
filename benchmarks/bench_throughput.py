"""Training and scoring throughput of every detector, against this machine's roofline.

For each detector (AnoGAN, EGBAD, GANomaly) and backbone (``mlp``: tabular
rows; ``dcgan``: 28x28 grey images, padded to 32x32 inside the networks),
the script measures:

1. **The roofline**: the rate this machine reaches on the networks' own
   largest convolution and matrix-product shapes, each run alone (forward,
   and forward plus backward), in float32 on the CPU; in float32, TF32 and
   bfloat16 on CUDA.  The shapes are recorded from the layers of a real
   training step; every shape with at least half the FLOPs of the largest
   of its kind is measured, with the thread count the training steps use.
   A backbone's roofline is the best rate reached on any of its shapes.
   A 1024x1024 matrix product is measured too, as a reference that is not
   one of the networks' shapes.
2. **FLOPs** of one training step (forward and backward of every network,
   optimiser updates not counted) and of scoring one sample, with
   ``torch.utils.flop_counter.FlopCounterMode``.
3. **Training steps**: the detector's own ``_train_step`` at the training
   batch size, in its training ``precision`` (``--precisions``: a row for
   each), after warm-up steps that are not timed, with the thread count
   the detector's ``fit`` uses; the GFLOP/s achieved and its share of the
   roofline (of the bfloat16 roofline on CUDA). With ``--compile``, a row
   more per detector: the steps with the networks compiled
   (``nn.Module.compile``), and the seconds the compilation took.
4. **Steps inside fit**: two fits that differ only in ``n_epochs``; the
   time difference over the extra steps is a step as ``fit`` runs it (its
   loop, batch transfer and bookkeeping included), and what the shorter
   fit takes beyond its steps is fit's fixed cost (``--no-fit-loop`` skips
   this).
5. **Scoring**: rows (images) per second through the public
   ``score_samples`` on a validated float64 array, after an untimed warm
   call, with enough rows for each timed call to last ``--score-seconds``
   (median of three calls; one call when the warm rows alone take five
   times that).  Calls score whole chunks (``_score_batch_rows``): a
   partial chunk is padded, and its padding rows cost as much as real
   ones.  AnoGAN scores by a latent search (``latent_steps`` Adam steps per
   sample), labelled as such; on images it is timed on a few images in a
   padded chunk (a full chunk would take minutes), a lower bound.

The load average (as ``uptime`` shows it) and torch's thread count are
printed beside the results: numbers taken on a busy machine are not
evidence.  Run it on an otherwise idle machine, from the repository root::

    python benchmarks/bench_throughput.py                      # CPU or the GPU, ~5 min on 2 cores
    python benchmarks/bench_throughput.py --threads 2 --json throughput.json
    python benchmarks/bench_throughput.py --device cuda --batch-size 256 \
        --precisions float32 bfloat16 --compile
    python benchmarks/bench_throughput.py --detectors GANomaly --backbones dcgan --n-filters 32
    python benchmarks/bench_throughput.py --quick              # tiny shapes: a smoke test

``--quick`` uses tiny shapes and few steps; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from skanomaly import AnoGANDetector, EGBADDetector, GANomalyDetector
from skanomaly._training import _step_arithmetic, mixed_precision

DETECTORS = {"AnoGAN": AnoGANDetector, "EGBAD": EGBADDetector, "GANomaly": GANomalyDetector}
BACKBONES = ("mlp", "dcgan")


# ----------------------------------------------------------------------
# The machine.
# ----------------------------------------------------------------------
def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` prints them."""
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def machine_description(device: str) -> dict:
    """What ran the benchmark: CPU, cores, GPU, versions, thread count."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if "model name" in line)
    info = {
        "cpu": f"{cpu}, {os.cpu_count()} logical cores",
        "device": device,
        "gpu": torch.cuda.get_device_name(device) if device.startswith("cuda") else "none used",
        "torch": torch.__version__,
        "torch threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    if device.startswith("cuda"):
        info["tf32 allowed (matmul, cuDNN)"] = (
            f"{torch.backends.cuda.matmul.allow_tf32}, {torch.backends.cudnn.allow_tf32}"
        )
    return info


@contextlib.contextmanager
def torch_threads(n_threads: int):
    """torch's intra-op thread count set for a block, then restored."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so that wall time covers it."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def seconds_per_call(function, device: str, min_time: float, warmup: int = 2) -> float:
    """Median seconds of one call, over enough calls to last ``min_time``."""
    for _ in range(warmup):
        function()
    synchronize(device)
    times: list[float] = []
    total = 0.0
    while total < min_time or len(times) < 3:
        start = time.perf_counter()
        function()
        synchronize(device)
        times.append(time.perf_counter() - start)
        total += times[-1]
    return statistics.median(times)


class _NoModuleTracking:
    """Stands in for the flop counter's module tracker: every FLOP goes to "Global".

    The tracker's backward hooks fail under ``torch.autograd.grad`` on a
    leaf tensor ("A leaf node was passed to _will_engine_execute_node"),
    which is how AnoGAN's latent search takes its gradients; totals are all
    this script needs.
    """

    parents = frozenset({"Global"})

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def count_flops(function) -> int:
    """FLOPs (multiply-adds count 2) of one call, by torch's flop counter."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _NoModuleTracking()
    with counter:
        function()
    return int(counter.get_total_flops())


# ----------------------------------------------------------------------
# The roofline: the networks' own layer shapes, run alone.
# ----------------------------------------------------------------------
@dataclass(frozen=True)
class LayerShape:
    """A convolution, transposed convolution or linear layer at one input shape."""

    op: str  # "conv2d", "conv_transpose2d" or "linear"
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    bias: bool
    options: tuple = ()  # stride, padding, ... as the functional op takes them

    @property
    def kind(self) -> str:
        return "matmul" if self.op == "linear" else "conv"

    def describe(self) -> str:
        if self.op == "linear":
            (rows, inner), (out, _) = self.input_shape, self.weight_shape
            return f"linear {rows}x{inner} @ {inner}x{out}"
        n, c, h, w = self.input_shape
        out_channels = (
            self.weight_shape[1] if self.op == "conv_transpose2d" else self.weight_shape[0]
        )
        stride = self.options[0]
        return (
            f"{self.op} {c}->{out_channels} ch, {h}x{w} in, "
            f"{self.weight_shape[-2]}x{self.weight_shape[-1]} stride {stride[0]}, batch {n}"
        )

    def call(self, x, weight, bias):
        if self.op == "conv2d":
            return F.conv2d(x, weight, bias, *self.options)
        if self.op == "conv_transpose2d":
            return F.conv_transpose2d(x, weight, bias, *self.options)
        return F.linear(x, weight, bias)


def _layer_shape(module: nn.Module, x: torch.Tensor) -> LayerShape | None:
    if isinstance(module, nn.ConvTranspose2d):
        options = (
            module.stride,
            module.padding,
            module.output_padding,
            module.groups,
            module.dilation,
        )
        op = "conv_transpose2d"
    elif isinstance(module, nn.Conv2d):
        options = (module.stride, module.padding, module.dilation, module.groups)
        op = "conv2d"
    elif isinstance(module, nn.Linear):
        options, op = (), "linear"
    else:
        return None
    return LayerShape(
        op, tuple(x.shape), tuple(module.weight.shape), module.bias is not None, options
    )


@contextlib.contextmanager
def recording_layer_shapes(networks: list[nn.Module], found: set):
    """Record the shape of every conv and linear layer called inside the block."""

    def hook(module, inputs, output):
        shape = _layer_shape(module, inputs[0])
        if shape is not None:
            found.add(shape)

    handles = [
        layer.register_forward_hook(hook) for network in networks for layer in network.modules()
    ]
    try:
        yield found
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def precision(device: str, mode: str):
    """fp32 (TF32 off), tf32 (on) or bf16 tensors; TF32 flags restored after."""
    if not device.startswith("cuda"):
        yield torch.float32 if mode != "bf16" else torch.bfloat16
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = mode == "tf32"
    try:
        yield torch.bfloat16 if mode == "bf16" else torch.float32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def measure_layer(shape: LayerShape, device: str, mode: str, min_time: float) -> dict:
    """GFLOP/s of the layer alone: forward, and forward plus backward."""
    with precision(device, mode) as dtype:
        generator = torch.Generator(device).manual_seed(0)

        def tensor(size, scale=1.0):
            return (scale * torch.randn(size, generator=generator, device=device)).to(dtype)

        x, weight = tensor(shape.input_shape), tensor(shape.weight_shape, 0.02)
        bias_size = (
            shape.weight_shape[1] if shape.op == "conv_transpose2d" else shape.weight_shape[0]
        )
        bias = tensor((bias_size,)) if shape.bias else None
        with torch.no_grad():
            grad_out = torch.randn_like(shape.call(x, weight, bias))

        def forward():
            with torch.no_grad():
                shape.call(x, weight, bias)

        # As in a hidden layer of a training step: gradients for input and weights.
        leaves = [t.requires_grad_(True) for t in (x, weight, bias) if t is not None]

        def forward_backward():
            out = shape.call(x, weight, bias)
            torch.autograd.grad(out, leaves, grad_out)

        result = {"layer": shape.describe(), "kind": shape.kind, "precision": mode}
        for name, function in (("fwd", forward), ("fwd+bwd", forward_backward)):
            flops = count_flops(function)
            seconds = seconds_per_call(function, device, min_time)
            result[f"{name} GFLOP"] = flops / 1e9
            result[f"{name} GFLOP/s"] = flops / seconds / 1e9
    return result


def measure_reference_matmul(side: int, device: str, mode: str, min_time: float) -> dict:
    """A square matrix product, the usual yardstick (not a network shape)."""
    with precision(device, mode) as dtype:
        a = torch.randn(side, side, device=device).to(dtype)
        b = torch.randn(side, side, device=device).to(dtype)

        def forward():
            torch.mm(a, b)

        seconds = seconds_per_call(forward, device, min_time)
    flops = 2 * side**3
    return {
        "layer": f"reference: {side}x{side} @ {side}x{side} matmul",
        "kind": "reference",
        "precision": mode,
        "fwd GFLOP": flops / 1e9,
        "fwd GFLOP/s": flops / seconds / 1e9,
    }


def shapes_to_measure(shapes: set[LayerShape], share: float = 0.5) -> list[LayerShape]:
    """The largest shapes of each kind: at least ``share`` of the biggest one's FLOPs."""
    flops = {s: count_flops(lambda s=s: _meta_call(s)) for s in shapes}
    chosen = []
    for kind in ("conv", "matmul"):
        of_kind = sorted((s for s in shapes if s.kind == kind), key=flops.get, reverse=True)
        if of_kind:
            top = flops[of_kind[0]]
            chosen += [s for s in of_kind if flops[s] >= share * top][:4]
    return chosen


def _meta_call(shape: LayerShape):
    """The layer on meta tensors: shapes and FLOPs without computing anything."""
    bias_size = shape.weight_shape[1] if shape.op == "conv_transpose2d" else shape.weight_shape[0]
    x = torch.empty(shape.input_shape, device="meta")
    weight = torch.empty(shape.weight_shape, device="meta")
    bias = torch.empty(bias_size, device="meta") if shape.bias else None
    return shape.call(x, weight, bias)


# ----------------------------------------------------------------------
# The detectors.
# ----------------------------------------------------------------------
@dataclass
class Settings:
    """Shapes and amounts of work of one run."""

    batch_size: int = 64
    n_features: int = 30
    image_side: int = 28
    n_filters: int = 64
    warmup_steps: int = 5
    steps: int = 20
    score_seconds: float = 2.0
    max_score_rows: dict = field(default_factory=lambda: {"mlp": 100_000, "dcgan": 10_000})
    warm_score_rows: dict = field(default_factory=lambda: {"mlp": 256, "dcgan": 8})
    op_seconds: float = 0.5
    reference_side: int = 1024
    latent_steps: int | None = None  # AnoGAN's search; None = its default
    precision: str = "float32"  # the training steps' arithmetic (bfloat16: autocast)


def make_data(backbone: str, n_rows: int, settings: Settings, seed: int) -> np.ndarray:
    """Synthetic input: standard normal rows, or grey images in [0, 1]."""
    rng = np.random.default_rng(seed)
    if backbone == "mlp":
        return rng.normal(size=(n_rows, settings.n_features))
    side = settings.image_side
    return rng.uniform(size=(n_rows, 1, side, side))


def networks_of(detector) -> list[nn.Module]:
    """The fitted networks (``generator_``, ``discriminator_``, ``encoder_``, ...)."""
    return [v for k, v in vars(detector).items() if k.endswith("_") and isinstance(v, nn.Module)]


def fit_threads(detector):
    """The thread setting the detector's own ``fit`` uses (one thread for MLPs)."""
    threads = getattr(detector, "_threads", None)
    return threads() if callable(threads) else contextlib.nullcontext()


def make_detector(name: str, settings: Settings, device: str, n_epochs: int = 1):
    """An unfitted detector at the benchmark's shapes; AnoGAN with no latent search."""
    params = {
        "n_epochs": n_epochs,
        "batch_size": settings.batch_size,
        "n_filters": settings.n_filters,
        "device": device,
        "random_state": 0,
        # One network: the steps' speed against the roofline. A tabular
        # ensemble's members run side by side in the same steps; the
        # ADBench profile reports what its fits cost.
        "n_estimators": 1,
    }
    if name == "AnoGAN":
        params["latent_steps"] = 0  # fit scores its training rows: skip the search there
    return DETECTORS[name](**params)


def build(name: str, backbone: str, settings: Settings, device: str):
    """A detector fitted for one epoch on synthetic data: its networks, built and placed."""
    detector = make_detector(name, settings, device)
    # One batch: fit scores its training rows at the end, slowly in float64.
    detector.fit(make_data(backbone, settings.batch_size, settings, 0))
    if name == "AnoGAN":
        steps = "auto" if settings.latent_steps is None else settings.latent_steps
        detector.set_params(latent_steps=steps)
    return detector


def add_precisions_argument(parser, steps: str) -> None:
    """``--precisions``: the arithmetic of ``steps``, a row each."""
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=["float32", "bfloat16"],
        default=["float32"],
        help=f"arithmetic of {steps}, a row each (bfloat16: autocast; default: float32, "
        "the detectors' own)",
    )


def time_fit_loop(name: str, backbone: str, settings: Settings, device: str) -> dict:
    """Milliseconds per step inside ``fit``, and the fixed cost of a fit.

    Two fits on the same rows that differ only in ``n_epochs``: their
    difference over the extra steps is a step as ``fit`` runs it (the loop,
    batch indexing and transfer, loss bookkeeping, whatever ``fit`` sets
    around the steps); what the shorter fit takes beyond its steps is the
    fixed cost (validation, scaling, building the networks, scoring the
    training rows for ``offset_``; for AnoGAN without its latent search,
    which the scoring rate covers).
    """
    steps_per_epoch = 2  # few rows: fit scores them all at the end
    X = make_data(backbone, steps_per_epoch * settings.batch_size, settings, 4)
    extra = max(1, math.ceil(settings.steps / steps_per_epoch))
    seconds = {}
    for epochs in (1, 1 + extra):
        detector = make_detector(name, settings, device, n_epochs=epochs)
        start = time.perf_counter()
        detector.fit(X)
        synchronize(device)
        seconds[epochs] = time.perf_counter() - start
    per_step = (seconds[1 + extra] - seconds[1]) / (extra * steps_per_epoch)
    return {
        "ms/step in fit": 1e3 * per_step,
        "fit fixed s": seconds[1] - steps_per_epoch * per_step,
    }


def time_training(
    detector, backbone: str, settings: Settings, shapes: set, compile_networks: bool = False
) -> dict:
    """ms per ``_train_step`` at steady state, and its FLOPs.

    In the run's precision, as ``fit`` runs the steps then. With
    ``compile_networks``, the networks are compiled first (``nn.Module.compile``)
    and the first step's seconds (the compilation) are reported.
    """
    device = detector.device_
    pool = make_data(backbone, 4 * settings.batch_size, settings, 1)
    # Inputs as the training loop gives them: scaled float32 batches on the device.
    if backbone == "mlp":
        data = torch.as_tensor(pool, dtype=torch.float32)
    else:
        data = torch.as_tensor(2 * pool - 1, dtype=torch.float32)
    # In the memory format the training loop uses (channels-last for images).
    data = data.to(device, memory_format=detector._memory_format())
    batches = [data[i : i + settings.batch_size] for i in range(0, len(data), settings.batch_size)]
    networks = networks_of(detector)
    for network in networks:
        network.train()
    optimizers = detector._make_optimizers()
    stack = contextlib.ExitStack()
    stack.enter_context(fit_threads(detector))
    # The steps' arithmetic as ``fit`` sets it: autocast inside ``mixed_precision``.
    stack.enter_context(mixed_precision(settings.precision))
    stack.enter_context(_step_arithmetic(device))
    with stack:
        threads = torch.get_num_threads()
        with recording_layer_shapes(networks, shapes):
            detector._train_step(batches[0], optimizers)
        flops = count_flops(lambda: detector._train_step(batches[0], optimizers))
        compile_seconds = math.nan
        if compile_networks:
            # GANomaly's step backpropagates twice through one graph
            # (retain_graph): compiled backward graphs must keep their buffers.
            stack.enter_context(torch._functorch.config.patch(donated_buffer=False))
            for network in networks:
                network.compile()
            start = time.perf_counter()
            detector._train_step(batches[0], optimizers)
            synchronize(device)
            compile_seconds = time.perf_counter() - start
        for i in range(settings.warmup_steps):
            detector._train_step(batches[i % len(batches)], optimizers)
        synchronize(device)
        start = time.perf_counter()
        for i in range(settings.steps):
            detector._train_step(batches[i % len(batches)], optimizers)
        synchronize(device)
        seconds = (time.perf_counter() - start) / settings.steps
    for network in networks:
        network.eval()
        network._compiled_call_impl = None  # scoring runs eagerly, as in the library
    return {
        "precision": settings.precision,
        "compile s": compile_seconds,
        "threads": threads,
        "GFLOP/step": flops / 1e9,
        "ms/step": 1e3 * seconds,
        "GFLOP/s": flops / seconds / 1e9,
    }


def time_scoring(detector, backbone: str, settings: Settings) -> dict:
    """Samples per second through ``score_samples``, and FLOPs per sample."""
    # Scoring runs on fixed-size chunks, the last one padded: every call
    # scores whole chunks, so that no padding rows are timed as if free.
    chunk = detector._score_batch_rows()
    warm_rows = max(settings.warm_score_rows[backbone], chunk)
    if getattr(detector, "latent_steps", 0) and backbone == "dcgan":
        # A latent search on images costs seconds per image: a few images,
        # padded (its rate is labelled as the search's, and is a lower bound).
        warm_rows = max(1, settings.warm_score_rows[backbone] // 4)
    pool = make_data(backbone, warm_rows, settings, 2)
    # The untimed warm call (first-call costs: kernels, allocator) is the one
    # counted. Its FLOPs are divided by the rows the chunks hold: what a row
    # costs when many are scored, as in the timed calls below.
    flops = count_flops(lambda: detector.score_samples(pool)) / (-(-warm_rows // chunk) * chunk)
    start = time.perf_counter()
    detector.score_samples(pool)
    probe = time.perf_counter() - start
    # Three timed calls, of which the probe is the first when it is long enough;
    # one call five times too long already averages its own noise.
    calls = 1 if probe >= 5 * settings.score_seconds else 3
    if probe >= settings.score_seconds:
        X, times = pool, [probe]
    else:  # enough rows for one call to last about score_seconds
        n_rows = min(
            int(warm_rows * settings.score_seconds / probe), settings.max_score_rows[backbone]
        )
        if warm_rows >= chunk:  # whole chunks, as above
            n_rows = chunk * max(1, round(n_rows / chunk))
        X = make_data(backbone, n_rows, settings, 3)
        times = []
    while len(times) < calls:
        start = time.perf_counter()
        detector.score_samples(X)
        times.append(time.perf_counter() - start)
    rate = len(X) / statistics.median(times)
    return {
        "score rows": len(X),
        "score MFLOP/sample": flops / 1e6,
        "scored/s": rate,
        "score GFLOP/s": flops * rate / 1e9,
    }


# ----------------------------------------------------------------------
# Report.
# ----------------------------------------------------------------------
def _fmt(value, digits=1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, or auto")
    parser.add_argument("--quick", action="store_true", help="tiny shapes and few steps")
    parser.add_argument("--detectors", nargs="+", choices=list(DETECTORS), default=list(DETECTORS))
    parser.add_argument("--backbones", nargs="+", choices=BACKBONES, default=list(BACKBONES))
    parser.add_argument("--n-filters", type=int, default=64, help="width of the image networks")
    parser.add_argument("--batch-size", type=int, default=64, help="training batch")
    parser.add_argument("--features", type=int, default=30, help="columns of the tabular data")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed training steps first")
    parser.add_argument(
        "--score-seconds", type=float, default=2.0, help="length of one timed scoring call"
    )
    parser.add_argument(
        "--latent-steps", type=int, default=None, help="AnoGAN's search steps (default: its own)"
    )
    parser.add_argument(
        "--no-fit-loop", action="store_true", help="skip timing steps inside fit (two fits each)"
    )
    add_precisions_argument(parser, "the training steps")
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time the steps with the networks compiled (torch.compile), and the compile",
    )
    parser.add_argument("--json", metavar="OUT", help="also save the results as JSON")
    args = parser.parse_args(argv)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    from skanomaly._runtime import resolve_device

    device = resolve_device(args.device)
    settings = Settings(
        batch_size=args.batch_size,
        n_features=args.features,
        n_filters=args.n_filters,
        warmup_steps=args.warmup,
        steps=args.steps,
        score_seconds=args.score_seconds,
        latent_steps=args.latent_steps,
    )
    if args.quick:  # a smoke test: shapes and amounts far too small to mean anything
        settings = Settings(
            batch_size=8,
            n_features=5,
            image_side=8,
            n_filters=4,
            warmup_steps=1,
            steps=2,
            score_seconds=0.01,
            max_score_rows={"mlp": 64, "dcgan": 8},
            warm_score_rows={"mlp": 16, "dcgan": 4},
            op_seconds=0.005,
            reference_side=64,
            latent_steps=3 if args.latent_steps is None else args.latent_steps,
        )
    torch.manual_seed(0)
    modes = ["fp32", "tf32", "bf16"] if device.startswith("cuda") else ["fp32"]
    # On CUDA the targets are stated against the bf16 roofline.
    reference_mode = "bf16" if device.startswith("cuda") else "fp32"

    machine = machine_description(device)
    machine["load average at start"] = load_average()
    print(
        "bench_throughput"
        + (" --quick (tiny shapes: the numbers mean nothing)" if args.quick else "")
    )
    for key, value in machine.items():
        print(f"  {key}: {value}")
    print("  (load averages: 1, 5 and 15 minutes, as uptime prints them)")
    print(
        f"  settings: batch {settings.batch_size}, {settings.n_features} features, "
        f"{settings.image_side}x{settings.image_side} images, n_filters {settings.n_filters}, "
        f"{settings.warmup_steps} warm-up + {settings.steps} timed steps"
    )

    rows, layers = [], []
    for backbone in args.backbones:
        shapes: set[LayerShape] = set()
        results = []
        for name, precision in itertools.product(args.detectors, args.precisions):
            run = replace(settings, precision=precision)
            detector = build(name, backbone, run, device)
            training = time_training(detector, backbone, run, shapes)
            # Scoring is float64 whatever the training precision: timed once.
            first = precision == args.precisions[0]
            scoring = time_scoring(detector, backbone, run) if first else {}
            label = name
            if name == "AnoGAN":
                label += f" (latent search, {detector._latent_steps()} steps)"
            del detector
            loop = {}
            if not args.no_fit_loop:
                with mixed_precision(precision):
                    loop = time_fit_loop(name, backbone, run, device)
            results.append(
                {"detector": label, "backbone": backbone, **training, **loop, **scoring}
            )
            if args.compile:
                compiled = time_training(
                    build(name, backbone, run, device), backbone, run, set(), True
                )
                results.append(
                    {"detector": label + ", compiled", "backbone": backbone, **compiled}
                )
        # The roofline with the thread count the steps ran with (one for the MLPs).
        threads = results[0]["threads"]
        measured = []
        with torch_threads(threads):
            for shape in shapes_to_measure(shapes):
                for mode in modes:
                    measured.append(measure_layer(shape, device, mode, settings.op_seconds))
        for entry in measured:
            entry.update(backbone=backbone, threads=threads)
        layers += measured
        roofline = {
            mode: max(
                max(m["fwd GFLOP/s"], m["fwd+bwd GFLOP/s"])
                for m in measured
                if m["precision"] == mode
            )
            for mode in modes
        }
        for result in results:
            result["roofline GFLOP/s"] = roofline
            result["% of roofline"] = 100 * result["GFLOP/s"] / roofline[reference_mode]
        rows += results
    for mode in modes:
        reference = measure_reference_matmul(
            settings.reference_side, device, mode, settings.op_seconds
        )
        layers.append({**reference, "threads": torch.get_num_threads()})

    print(f"\nRoofline: the networks' largest layer shapes, run alone, on {device}")
    print_table(
        [
            "backbone",
            "layer",
            "precision",
            "threads",
            "fwd GFLOP",
            "fwd GFLOP/s",
            "fwd+bwd GFLOP/s",
        ],
        [
            [
                m.get("backbone", "–"),
                m["layer"],
                m["precision"],
                str(m["threads"]),
                _fmt(m["fwd GFLOP"], 3),
                _fmt(m["fwd GFLOP/s"]),
                _fmt(m.get("fwd+bwd GFLOP/s")),
            ]
            for m in layers
        ],
    )
    print(f"\nTraining steps and scoring on {device} (% of the {reference_mode} roofline)")
    print_table(
        [
            "detector",
            "backbone",
            "precision",
            "threads",
            "GFLOP/step",
            "ms/step",
            "GFLOP/s",
            "% roofline",
            "ms/step in fit",
            "fit fixed s",
            "score MFLOP/sample",
            "score GFLOP/s",
            "scored/s",
            "compile s",
        ],
        [
            [
                r["detector"],
                r["backbone"],
                r["precision"],
                str(r["threads"]),
                _fmt(r["GFLOP/step"], 3),
                _fmt(r["ms/step"]),
                _fmt(r["GFLOP/s"]),
                _fmt(r["% of roofline"], 0),
                _fmt(r.get("ms/step in fit")),
                _fmt(r.get("fit fixed s"), 2),
                _fmt(r.get("score MFLOP/sample"), 2),
                _fmt(r.get("score GFLOP/s")),
                _fmt(r.get("scored/s"), 0),
                _fmt(r.get("compile s"), 1),
            ]
            for r in rows
        ],
    )
    end_load = load_average()
    print(
        f"\nload average at end (1, 5, 15 min): {end_load}; "
        f"torch threads: {torch.get_num_threads()}"
    )
    results = {
        "machine": {**machine, "load average at end": end_load},
        "settings": {**asdict(settings), "device": device, "quick": args.quick},
        "command": "python benchmarks/bench_throughput.py "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "layers": layers,
        "rows": rows,
    }
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(f"results saved to {args.json}")
    return results


if __name__ == "__main__":
    main()
