"""The location encoder: Siren(SH(lat, lon)) -> R^D.

`LocationEncoder.forward` is the differentiable torch path used in training;
`LocationEncoder.encode` is the inference path users call: numpy in, numpy out,
compiled spherical harmonics, batched, no autograd.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import operator
import threading
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn

from .._ext.sine_layer import sin_bias_
from .._ext.spherical_harmonics import fill_real_sh
from ..core.coordinates import as_latlon
from ..core.errors import InvalidArgumentError
from ..core.threads import MAX_THREADS
from .siren import Siren
from .spherical_harmonics import recurrence_coefficients, spherical_harmonics_torch
from .weights_directory import config_from_dict


# The largest value each size of `EncoderConfig` may take: far above any trained model
# (L = 40, width 512), far below sizes whose weights would not fit in memory.
CONFIG_LIMITS = {"legendre_degree": 200, "hidden_dim": 16384, "num_layers": 64, "output_dim": 16384}


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture of a Siren(SH) location encoder.

    legendre_degree: L, number of SH degrees (L**2 input features); the basis
        resolves features of about 180 / (2 L) degrees.
    hidden_dim, num_layers: Siren width and number of sine layers.
    output_dim: embedding size D.
    w0_initial, w0: sine frequencies of the first and of later layers.
    dropout: training-time dropout inside the Siren.
    """

    legendre_degree: int = 10
    hidden_dim: int = 512
    num_layers: int = 2
    output_dim: int = 256
    w0_initial: float = 30.0
    w0: float = 1.0
    dropout: float = 0.0

    def __post_init__(self) -> None:
        for name, limit in CONFIG_LIMITS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
                raise InvalidArgumentError(f"{name} must be an integer in 1..{limit}, got {value!r}")
        for name in ("w0_initial", "w0"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and value > 0):
                raise InvalidArgumentError(f"{name} must be a finite number > 0, got {value!r}")
        if isinstance(self.dropout, bool) or not isinstance(self.dropout, (int, float)) or not (
                0.0 <= self.dropout < 1.0):
            raise InvalidArgumentError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "EncoderConfig":
        return config_from_dict(cls, values)


class LocationEncoder(nn.Module):
    """Siren(SH) location encoder (model kind "siren-sh").

    Attributes
    ----------
    config : EncoderConfig
    metadata : dict
        Free-form facts about the weights (name, trained or not, data, sha256),
        filled by `load_encoder`.
    """

    KIND = "siren-sh"

    def __init__(self, config: EncoderConfig = EncoderConfig(), metadata: dict | None = None):
        super().__init__()
        self.config = config
        self.metadata = dict(metadata or {})
        self.siren = Siren(
            config.legendre_degree**2,
            config.hidden_dim,
            config.output_dim,
            config.num_layers,
            w0_initial=config.w0_initial,
            w0=config.w0,
            dropout=config.dropout,
        )

    @property
    def output_dim(self) -> int:
        return self.config.output_dim

    def summary(self) -> str:
        """One line for listings and model cards."""
        c = self.config
        return f"Siren(SH): L = {c.legendre_degree}, {c.num_layers} x {c.hidden_dim} sine layers -> {c.output_dim}"

    def forward(self, lats: torch.Tensor, lons: torch.Tensor) -> torch.Tensor:
        """Differentiable embedding of (N,) latitude/longitude tensors in degrees.

        Returns (N, D) in the dtype of the parameters. Inputs are assumed valid;
        use `encode` for untrusted input.
        """
        features = spherical_harmonics_torch(lats, lons, self.config.legendre_degree)
        return self.siren(features.to(self.siren.last.weight.dtype))

    @torch.inference_mode()
    def encode(self, lats: ArrayLike, lons: ArrayLike | None = None, batch_size: int = 16384) -> np.ndarray:
        """Embed coordinates given in degrees.

        Parameters
        ----------
        lats, lons : array-like, shape (N,)
            Degrees; validated (NaN/inf and |lat| > 90 raise CoordinateError),
            longitudes wrapped. Or `lats` alone: an (N, 2) array of (lat, lon), a
            two-column DataFrame or a GeoSeries of points (`as_latlon`).
        batch_size : int
            Most points per network pass; bounds memory at about
            threads * batch_size * (L**2 + 2 * hidden_dim) * 4 bytes. On the CPU
            passes are at most `CPU_CHUNK` points (cache-sized).

        Returns
        -------
        np.ndarray, shape (N, D), float32

        Notes
        -----
        On the CPU the points are cut into cache-sized chunks that
        `torch.get_num_threads()` worker threads take in turn, each running
        harmonics, products and sines of its chunk single-threaded (no barrier
        per operation; torch's thread setting is restored on return). A chunk's
        result depends only on its points, so results are reproducible.
        """
        batch_size = _check_batch_size(batch_size)
        lat, lon = as_latlon(lats, lons)
        n = lat.size
        out = np.empty((n, self.output_dim), dtype=np.float32)
        if n == 0:
            return out
        device = self.siren.last.weight.device
        layers = _fold_frequencies(self.siren, torch.float32)
        degree = self.config.legendre_degree
        if device.type == "cpu":
            _encode_cpu(lat, lon, degree, layers, out, min(batch_size, CPU_CHUNK))
            return out
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            h = spherical_harmonics_torch(
                torch.from_numpy(lat[start:stop]).to(device),
                torch.from_numpy(lon[start:stop]).to(device),
                degree,
            ).float()
            for weight, bias, sine in layers:
                h = torch.addmm(bias, h, weight)
                if sine:
                    h.sin_()
            out[start:stop] = h.cpu().numpy()
        return out


def _check_batch_size(batch_size) -> int:
    """`batch_size` as an int >= 1, else InvalidArgumentError (a ValueError) naming it."""
    try:
        size = operator.index(batch_size) if not isinstance(batch_size, bool) else None
    except TypeError:
        size = None
    if size is None or size < 1:
        raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return size
# Points per pass on the CPU: the hidden activations of a chunk (2 x 512 floats
# a point) stay in the core's cache between the products and the sines, and no
# pass allocates (large fresh buffers cost page faults on every batch).
CPU_CHUNK = 1024


# torch.set_num_threads in a worker is process-wide (MKL's count): the first of
# any concurrent encode calls saves the caller's setting, the last restores it.
_threads_lock = threading.Lock()
_threads_users = 0
_threads_saved = 1


def _torch_threads() -> int:
    with _threads_lock:
        return _threads_saved if _threads_users else torch.get_num_threads()


@contextlib.contextmanager
def _single_threaded_workers():
    global _threads_users, _threads_saved
    with _threads_lock:
        if _threads_users == 0:
            _threads_saved = torch.get_num_threads()
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_saved)


def _encode_cpu(lat: np.ndarray, lon: np.ndarray, degree: int, layers: list, out: np.ndarray,
                chunk: int) -> None:
    """Fill `out` chunk by chunk; torch.get_num_threads() workers, one thread each."""
    n = lat.size
    # Capped: torch accepts thread counts that would abort libgomp.
    threads = max(1, min(_torch_threads(), MAX_THREADS, -(-n // chunk)))
    a, b = recurrence_coefficients(degree)
    biases = [bias.numpy() for _, bias, _ in layers]
    result = torch.from_numpy(out)
    starts = iter(range(0, n, chunk))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(single_thread: bool) -> None:
        try:
            with torch.inference_mode():
                if single_thread:
                    torch.set_num_threads(1)  # this worker's products and sines
                features = np.empty((chunk, degree * degree), dtype=np.float32)
                hidden = [torch.empty(chunk, weight.shape[1]) if sine else None for weight, _, sine in layers]
                while not errors:
                    with lock:
                        start = next(starts, None)
                    if start is None:
                        return
                    stop = min(start + chunk, n)
                    x = features[: stop - start]
                    fill_real_sh(lat[start:stop], lon[start:stop], degree, a, b, x,
                                 1 if single_thread else min(torch.get_num_threads(), MAX_THREADS))
                    h = torch.from_numpy(x)
                    for i, (weight, bias, sine) in enumerate(layers):
                        if sine:  # sin(h W + b): the product, then bias and sine in one pass
                            target = hidden[i][: stop - start]
                            torch.mm(h, weight, out=target)
                            sin_bias_(target.numpy(), biases[i])
                        else:
                            target = result[start:stop]
                            torch.addmm(bias, h, weight, out=target)
                        h = target
        except BaseException as error:  # re-raised in the caller's thread
            errors.append(error)

    if threads == 1:
        work(single_thread=False)
    else:
        workers = [threading.Thread(target=work, args=(True,), daemon=True) for _ in range(threads)]
        with _single_threaded_workers():
            try:
                for worker in workers:
                    worker.start()
            finally:
                _join_started(workers, errors)
    if errors:
        raise errors[0]


def _join_started(workers: list[threading.Thread], errors: list[BaseException]) -> None:
    """Wait for every started worker, through Ctrl-C too: a KeyboardInterrupt while
    waiting is recorded in `errors` (the workers stop after their chunk; the caller
    re-raises it) and the wait goes on. Leaving them running would let the
    interpreter exit while they are inside torch, which aborts the process
    ("terminate called without an active exception", exit 134)."""
    for worker in workers:
        while worker.ident is not None and worker.is_alive():
            try:
                worker.join()
            except BaseException as error:   # KeyboardInterrupt: the workers see it and stop
                errors.append(error)


def _fold_frequencies(siren: Siren, dtype: torch.dtype) -> list[tuple[torch.Tensor, torch.Tensor, bool]]:
    """Per layer (W^T * w0, b * w0, has_sine): sin(w0 (xW^T + b)) in one addmm + sin_."""
    folded = []
    for layer in [*siren.layers, siren.last]:
        scale = 1.0 if layer.linear else layer.w0
        folded.append(
            (
                (layer.weight.detach().to(dtype) * scale).t().contiguous(),
                layer.bias.detach().to(dtype) * scale,
                not layer.linear,
            )
        )
    return folded
