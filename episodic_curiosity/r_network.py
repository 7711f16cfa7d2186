"""The reachability network (R-network): a siamese ResNet-18 embedding + an MLP comparator.

Architecture (the paper's, as the original code builds it):

  * embedding branch: raw 0..255 RGB frames (no normalisation) -> pre-activation ResNet-18
    (7x7/2 conv, BN, ReLU, 3x3/2 max-pool, 4 stages x 2 basic blocks of 64/128/256/512
    filters, final BN-ReLU, global average pool) -> Dense 512, linear = the embedding;
  * comparator: concat(e1, e2) -> BN -> ReLU -> 4 x [Dense 512, BN, ReLU] -> Dense 2 ->
    softmax; class 1 = "reachable within k steps";
  * one set of layers, three views: pair model (img1, img2) -> probabilities, embedding model
    img -> 512, comparator (e1, e2) -> probabilities (and its logits).

Checkpoints are HDF5 files in the layout the original implementation wrote with Keras 2's
`save_weights` (groups `x1`, `x2`, `model` = embedding weights, `model_1` = comparator
weights; in each, trainable weights in layer order, then every BatchNorm's moving statistics).
This project both reads the original's released files and writes its own in that layout, so
checkpoints move freely between the two implementations.

This project's files also record the network's architecture as root attributes
(`ARCHITECTURE_KEYS`: input shape, stage filters, blocks per stage, embedding size, comparator
width and depth; and `input_pooling` when it is not 1; Keras 2 ignores them), so
`RNetwork(weights_path=...)` builds the matching
network without gin bindings; for files without them (the original's) the architecture is
deduced from the weights' shapes (`deduce_architecture`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Sequence

import gin
import h5py
import keras
import numpy as np
import tensorflow as tf

from episodic_curiosity import atomic_files
from episodic_curiosity import checkpoint_io
from episodic_curiosity import pretrained

EMBEDDING_SIZE = 512
DEFAULT_INPUT_SHAPE = (120, 160, 3)
_BN_EPSILON = 1e-3  # Keras defaults, as the original (another epsilon breaks output parity)
_BN_MOMENTUM = 0.99
_L2 = 1e-4


CheckpointError = checkpoint_io.CheckpointError  # one error for every checkpoint kind


class ArchitectureMismatchError(CheckpointError):
    """A weight file of another architecture than the network it is loaded into.

    Attributes:
      path: str, the file.
      file_architecture: dict, the file's architecture (recorded or deduced).
      network_architecture: dict, the network's.
    """

    def __init__(self, message: str, path: str, file_architecture: dict, network_architecture: dict):
        super().__init__(message)
        self.path = path
        self.file_architecture = file_architecture
        self.network_architecture = network_architecture


# What an R-network `.h5` of this project records of its architecture, as root attributes
# (int arrays or ints), beside the original's layout.
ARCHITECTURE_KEYS = (
    "input_shape",
    "stage_filters",
    "blocks_per_stage",
    "embedding_size",
    "comparator_hidden_units",
    "comparator_hidden_layers",
)
# Recorded only where they differ from these defaults, so files without them (the original's,
# and this project's older ones) keep their meaning. `input_pooling`: the frames are averaged
# over input_pooling x input_pooling pixel blocks before the first convolution (the laptop
# scale's lower-resolution R-network; 1 = none, the paper).
OPTIONAL_ARCHITECTURE_DEFAULTS = {"input_pooling": 1}
PAPER_ARCHITECTURE = {
    "input_shape": [120, 160, 3],
    "stage_filters": [64, 128, 256, 512],
    "blocks_per_stage": 2,
    "embedding_size": 512,
    "comparator_hidden_units": 512,
    "comparator_hidden_layers": 4,
    "input_pooling": 1,
}


def _normalized_architecture(values: Mapping[str, Any]) -> dict:
    return {
        "input_shape": [int(d) for d in values["input_shape"]],
        "stage_filters": [int(f) for f in values["stage_filters"]],
        **{key: int(values[key]) for key in ARCHITECTURE_KEYS[2:]},
        **{key: int(values.get(key, default)) for key, default in OPTIONAL_ARCHITECTURE_DEFAULTS.items()},
    }


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(int(d)) for d in shape)


def describe_architecture(architecture: Mapping[str, Any]) -> str:
    """E.g. 'input 120x160x3, stage filters (64, 128, 256, 512) x 2 blocks, embedding 512,
    comparator 4 x 512 units'."""
    pooling = int(architecture.get("input_pooling", 1))
    pooled = f" average-pooled {pooling}x{pooling}" if pooling != 1 else ""
    return (
        f"input {_shape_text(architecture['input_shape'])}{pooled}, stage filters "
        f"{tuple(architecture['stage_filters'])} x {architecture['blocks_per_stage']} blocks, "
        f"embedding {architecture['embedding_size']}, comparator "
        f"{architecture['comparator_hidden_layers']} x {architecture['comparator_hidden_units']} units"
    )


def architecture_bindings(architecture: Mapping[str, Any]) -> list[str]:
    """The gin bindings that make `build_embedding_network` / `build_comparator_network` build
    `architecture`'s layers (the input shape is `RNetwork`'s `input_shape` argument)."""
    return [
        f"build_embedding_network.stage_filters={tuple(architecture['stage_filters'])}",
        f"build_embedding_network.blocks_per_stage={architecture['blocks_per_stage']}",
        f"build_embedding_network.embedding_size={architecture['embedding_size']}",
        f"build_comparator_network.hidden_units={architecture['comparator_hidden_units']}",
        f"build_comparator_network.num_hidden_layers={architecture['comparator_hidden_layers']}",
        f"build_embedding_network.input_pooling={int(architecture.get('input_pooling', 1))}",
    ]


def _open_weights(path: str) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise CheckpointError(f"cannot read R-network weights {path!r}: not a readable HDF5 file ({e})") from e


def _recorded_architecture(handle: h5py.File, path: str) -> dict | None:
    present = [key for key in ARCHITECTURE_KEYS if key in handle.attrs]
    if not present:
        return None
    if len(present) != len(ARCHITECTURE_KEYS):
        missing = [key for key in ARCHITECTURE_KEYS if key not in present]
        raise CheckpointError(
            f"R-network weights {path!r} record only part of their architecture (missing {', '.join(missing)})"
        )
    try:
        keys = [*ARCHITECTURE_KEYS, *(key for key in OPTIONAL_ARCHITECTURE_DEFAULTS if key in handle.attrs)]
        return _normalized_architecture({key: np.asarray(handle.attrs[key]).tolist() for key in keys})
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"R-network weights {path!r} record an unreadable architecture ({e})") from e


def read_architecture(path: str) -> dict | None:
    """The architecture an R-network `.h5` records (keys `ARCHITECTURE_KEYS`; shapes and filters
    as lists), or None for a file that records none (the original's, or this project's from
    before the metadata). Raises CheckpointError for an unreadable file."""
    with _open_weights(path) as handle:
        return _recorded_architecture(handle, path)


def _weight_group(handle: h5py.File, group_name: str, path: str) -> tuple[h5py.Group, list[str]]:
    """Group `group_name` of the original's layout ('model': embedding, 'model_1': comparator)
    and its array names in storage order; CheckpointError if the file has no such group."""
    root = handle["model_weights"] if "model_weights" in handle else handle
    if group_name not in root:
        raise CheckpointError(
            f"R-network weights {path!r} have no group {group_name!r} "
            f"(found {sorted(root.keys())}); expected the original's layout"
        )
    group = root[group_name]
    return group, [n.decode() if isinstance(n, bytes) else n for n in group.attrs.get("weight_names", [])]


def _stored_shapes(handle: h5py.File, path: str) -> dict[str, list[tuple[int, ...]]]:
    """Shapes of the arrays of groups 'model' (embedding) and 'model_1' (comparator), stored order."""
    shapes = {}
    for group_name in ("model", "model_1"):
        group, names = _weight_group(handle, group_name, path)
        try:
            shapes[group_name] = [tuple(int(d) for d in group[name].shape) for name in names]
        except (KeyError, OSError) as e:
            raise CheckpointError(f"R-network weights {path!r} are truncated or corrupt: {e}") from e
    return shapes


def _weight_shapes(architecture: Mapping[str, Any]) -> dict[str, list[tuple[int, ...]]]:
    """The array shapes `RNetwork` stores for `architecture`, by group, in storage order
    (computed from the sizes alone, as `build_embedding_network` lays the layers out)."""
    height, width, channels = architecture["input_shape"]
    pooling = int(architecture.get("input_pooling", 1))
    height, width = height // pooling, width // pooling  # "valid" average pooling
    ceil_half = lambda n, stride: -(-n // stride)  # "same" padding
    filters = architecture["stage_filters"]
    layers = [("conv", 7, channels, filters[0]), ("bn", filters[0])]  # in layer order
    height, width, channels = ceil_half(ceil_half(height, 2), 2), ceil_half(ceil_half(width, 2), 2), filters[0]
    for stage, stage_filters in enumerate(filters):
        for block in range(architecture["blocks_per_stage"]):
            stride = 2 if stage > 0 and block == 0 else 1
            if (stage, block) != (0, 0):
                layers.append(("bn", channels))
            layers += [("conv", 3, channels, stage_filters), ("bn", stage_filters)]
            out_height, out_width = ceil_half(height, stride), ceil_half(width, stride)
            if (out_height, out_width, stage_filters) != (height, width, channels):
                layers.append(("conv", 1, channels, stage_filters))  # the projection shortcut
            layers.append(("conv", 3, stage_filters, stage_filters))
            height, width, channels = out_height, out_width, stage_filters
    layers += [("bn", channels), ("dense", channels, architecture["embedding_size"])]
    width_in = 2 * architecture["embedding_size"]
    comparator = [("bn", width_in)]
    for _ in range(architecture["comparator_hidden_layers"]):
        comparator += [
            ("dense", width_in, architecture["comparator_hidden_units"]),
            ("bn", architecture["comparator_hidden_units"]),
        ]
        width_in = architecture["comparator_hidden_units"]
    comparator.append(("dense", width_in, 2))

    def storage_order(layer_list):
        trainable, statistics = [], []
        for kind, *sizes in layer_list:
            if kind == "bn":
                trainable += [(sizes[0],)] * 2
                statistics += [(sizes[0],)] * 2
            elif kind == "conv":
                size, units_in, units_out = sizes
                trainable += [(size, size, units_in, units_out), (units_out,)]
            else:
                trainable += [tuple(sizes), (sizes[1],)]
        return trainable + statistics

    return {"model": storage_order(layers), "model_1": storage_order(comparator)}


def _architecture_from_shapes(shapes: Mapping[str, list], input_shape: Sequence[int] | None, path: str) -> dict:
    """The architecture whose weights have `shapes` (see `deduce_architecture`)."""
    kernels = [s for s in shapes["model"] if len(s) == 4]
    embedding_dense = [s for s in shapes["model"] if len(s) == 2]
    comparator_dense = [s for s in shapes["model_1"] if len(s) == 2]
    not_ours = CheckpointError(
        f"R-network weights {path!r} do not hold an embedding ResNet and a comparator "
        "as this project and the original build them"
    )
    if not kernels or kernels[0][:2] != (7, 7) or len(embedding_dense) != 1 or not comparator_dense:
        raise not_ours
    if input_shape is None:
        input_shape = (*DEFAULT_INPUT_SHAPE[:2], kernels[0][2])
    block_filters = [k[3] for k in kernels if k[:2] == (3, 3)][::2]  # two 3x3 convs per block
    layers = {
        "embedding_size": embedding_dense[0][1],
        "comparator_hidden_units": comparator_dense[0][1],
        "comparator_hidden_layers": len(comparator_dense) - 1,
    }
    candidates = []
    for blocks in range(1, len(block_filters) + 1):
        if len(block_filters) % blocks == 0:
            candidate = _normalized_architecture(
                {
                    "input_shape": input_shape,
                    "blocks_per_stage": blocks,
                    "stage_filters": block_filters[::blocks],
                    **layers,
                }
            )
            if _weight_shapes(candidate) == {k: [tuple(s) for s in v] for k, v in shapes.items()}:
                candidates.append(candidate)
    if not candidates:
        raise CheckpointError(
            f"R-network weights {path!r} fit no network this project builds for {_shape_text(input_shape)} frames"
        )
    return min(candidates, key=lambda c: c["blocks_per_stage"] != 2)  # ResNet-18's if ambiguous


def deduce_architecture(path: str, input_shape: Sequence[int] | None = None) -> dict:
    """The architecture of the network an R-network `.h5` holds weights for.

    The recorded one (`read_architecture`) if the file has it. Else it is deduced from the
    weights' shapes: stage filters, blocks per stage, embedding size and the comparator's width
    and depth are determined by them; the frames' height and width are not (the embedding
    ends in a global average pool), so they are `input_shape`'s, or the paper's 120x160 with the
    file's number of channels. The original's files give `PAPER_ARCHITECTURE`.

    Raises:
      CheckpointError: unreadable file, or weights that fit no network this module builds.
    """
    with _open_weights(path) as handle:
        recorded = _recorded_architecture(handle, path)
        if recorded is not None:
            return recorded
        shapes = _stored_shapes(handle, path)
    return _architecture_from_shapes(shapes, input_shape, path)


def _mismatch_error(
    path: str, file_architecture: dict, network_architecture: dict, deduced: bool
) -> ArchitectureMismatchError:
    source = "its weights' shapes give" if deduced else "it records"
    return ArchitectureMismatchError(
        f"R-network weights {path!r} are of another architecture than this network: the file's "
        f"({source}) is {describe_architecture(file_architecture)}; this network's is "
        f"{describe_architecture(network_architecture)}. Build the network from the file "
        f"(RNetwork(weights_path={path!r}) takes the file's architecture, no gin bindings needed), "
        f"or build this one with input_shape={tuple(file_architecture['input_shape'])} and "
        f"--gin_bindings {' '.join(repr(b) for b in architecture_bindings(file_architecture))}",
        path,
        file_architecture,
        network_architecture,
    )


INFERENCE_DTYPES = ("float32", "bfloat16", "auto")


def cpu_has_fast_bfloat16(cpuinfo_path: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU computes bf16 dot products natively (AVX512-BF16 or AMX-BF16)."""
    try:
        with open(cpuinfo_path) as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def resolve_inference_dtype(inference_dtype: str) -> str:
    """'auto' -> 'bfloat16' on a GPU or a CPU with native bf16 dot products, else 'float32'."""
    if inference_dtype not in INFERENCE_DTYPES:
        raise ValueError(f"inference_dtype must be one of {', '.join(INFERENCE_DTYPES)}, got {inference_dtype!r}")
    if inference_dtype != "auto":
        return inference_dtype
    if tf.config.list_physical_devices("GPU") or cpu_has_fast_bfloat16():
        return "bfloat16"
    return "float32"


@dataclasses.dataclass
class _Branch:
    """The layers of one weighted sub-network, in the order the original stores them."""

    weighted_layers: list[keras.layers.Layer] = dataclasses.field(default_factory=list)
    # The sizes it was built with (after gin), as `ARCHITECTURE_KEYS` entries.
    settings: dict = dataclasses.field(default_factory=dict)

    def add(self, layer):
        self.weighted_layers.append(layer)
        return layer

    def batch_norms(self):
        return [layer for layer in self.weighted_layers if isinstance(layer, keras.layers.BatchNormalization)]


def _conv(branch: _Branch, filters: int, size: int, strides=1, padding="same") -> keras.layers.Layer:
    return branch.add(
        keras.layers.Conv2D(
            filters,
            size,
            strides=strides,
            padding=padding,
            kernel_initializer="he_normal",
            kernel_regularizer=keras.regularizers.L2(_L2),
        )
    )


def _batch_norm(branch: _Branch, axis: int = -1) -> keras.layers.Layer:
    return branch.add(keras.layers.BatchNormalization(axis=axis, momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON))


def _basic_block(branch: _Branch, x, filters: int, strides: int, preactivate: bool):
    """Pre-activation basic block; the shortcut takes the block's raw input."""
    y = x
    if preactivate:
        y = keras.layers.Activation("relu")(_batch_norm(branch)(y))
    y = _conv(branch, filters, 3, strides=strides)(y)
    y = keras.layers.Activation("relu")(_batch_norm(branch)(y))
    input_shape, residual_shape = x.shape, y.shape
    if input_shape[1:] != residual_shape[1:]:
        # 1x1 "valid" conv strided to the residual's size (rounded ratio per axis: 15 -> 8 rows is
        # stride 2). The original stores it before the block's second 3x3 conv.
        stride = (int(round(input_shape[1] / residual_shape[1])), int(round(input_shape[2] / residual_shape[2])))
        shortcut = _conv(branch, filters, 1, strides=stride, padding="valid")(x)
    else:
        shortcut = x
    y = _conv(branch, filters, 3)(y)
    return keras.layers.Add()([shortcut, y])


@gin.configurable(denylist=["input_shape"])
def build_embedding_network(
    input_shape: Sequence[int] = DEFAULT_INPUT_SHAPE,
    stage_filters: Sequence[int] = (64, 128, 256, 512),
    blocks_per_stage: int = 2,
    embedding_size: int = EMBEDDING_SIZE,
    input_pooling: int = 1,
) -> tuple[keras.Model, _Branch]:
    """The ResNet-18 embedding branch.

    Args:
      input_shape: (H, W, C), frame shape; raw 0..255 values.
      stage_filters: tuple of int, filters per stage (paper: 64, 128, 256, 512); smaller values
        make tiny networks for tests.
      blocks_per_stage: int, basic blocks per stage (ResNet-18: 2).
      embedding_size: int, embedding width (paper: 512).
      input_pooling: int, average the frames over input_pooling x input_pooling blocks before
        the first convolution (1: none, the paper). 2 turns 120x160 frames into 60x80 ones,
        what an area resize by one half computes, at a quarter of the convolutions' cost
        (the laptop scale); the network still takes the env's full frames.

    Returns:
      (model, branch): the Keras model and its weighted layers in checkpoint order.
    """
    if int(input_pooling) < 1 or any(int(d) < int(input_pooling) for d in input_shape[:2]):
        raise ValueError(
            f"input_pooling must be an int >= 1 and at most the frame's height and width, "
            f"got {input_pooling} for {_shape_text(input_shape)} frames"
        )
    branch = _Branch(
        settings={
            "input_shape": [int(d) for d in input_shape],
            "stage_filters": [int(f) for f in stage_filters],
            "blocks_per_stage": int(blocks_per_stage),
            "embedding_size": int(embedding_size),
            "input_pooling": int(input_pooling),
        }
    )
    frames = keras.Input(shape=tuple(input_shape), name="frames")
    x = frames
    if int(input_pooling) > 1:
        x = keras.layers.AveragePooling2D(pool_size=int(input_pooling), name="input_pooling")(x)
    x = _conv(branch, stage_filters[0], 7, strides=2)(x)
    x = keras.layers.Activation("relu")(_batch_norm(branch)(x))
    x = keras.layers.MaxPooling2D(pool_size=3, strides=2, padding="same")(x)
    for stage, filters in enumerate(stage_filters):
        for block in range(blocks_per_stage):
            strides = 2 if stage > 0 and block == 0 else 1
            x = _basic_block(branch, x, filters, strides, preactivate=(stage, block) != (0, 0))
    x = keras.layers.Activation("relu")(_batch_norm(branch)(x))
    x = keras.layers.AveragePooling2D(pool_size=(x.shape[1], x.shape[2]), strides=1)(x)
    x = keras.layers.Flatten()(x)
    embedding = branch.add(keras.layers.Dense(embedding_size, kernel_initializer="he_normal"))(x)
    return keras.Model(frames, embedding, name="embedding_network"), branch


@gin.configurable
def build_comparator_network(
    embedding_size: int = EMBEDDING_SIZE, hidden_units: int = 512, num_hidden_layers: int = 4
) -> tuple[keras.Model, keras.Model, _Branch]:
    """The deep comparator ("top network").

    Args:
      embedding_size: int, width of each input embedding.
      hidden_units: int, width of the hidden Dense layers (paper: 512).
      num_hidden_layers: int, number of [Dense, BN, ReLU] layers (paper: 4).

    Returns:
      (probabilities_model, logits_model, branch): both map [e1, e2] to [B, 2] and share layers.
    """
    branch = _Branch(
        settings={"comparator_hidden_units": int(hidden_units), "comparator_hidden_layers": int(num_hidden_layers)}
    )
    first = keras.Input(shape=(embedding_size,), name="embedding_a")
    second = keras.Input(shape=(embedding_size,), name="embedding_b")
    x = keras.layers.Concatenate()([first, second])
    x = keras.layers.Activation("relu")(_batch_norm(branch)(x))
    for _ in range(num_hidden_layers):
        x = branch.add(keras.layers.Dense(hidden_units, kernel_initializer="he_normal"))(x)
        x = keras.layers.Activation("relu")(_batch_norm(branch)(x))
    logits = branch.add(keras.layers.Dense(2))(x)
    probabilities = keras.layers.Softmax()(logits)
    return (
        keras.Model([first, second], probabilities, name="comparator"),
        keras.Model([first, second], logits, name="comparator_logits"),
        branch,
    )


def _ordered_weights(branch: _Branch) -> list[tf.Variable]:
    """Weights in the original's storage order: trainables by layer, then BN moving stats."""
    trainable, statistics = [], []
    for layer in branch.weighted_layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            trainable += [layer.gamma, layer.beta]
            statistics += [layer.moving_mean, layer.moving_variance]
        else:
            trainable += [layer.kernel, layer.bias]
    return trainable + statistics


def _variable_name(variable, index: int) -> str:
    return f"{variable.path if hasattr(variable, 'path') else variable.name}:{index}"


@gin.configurable
class RNetwork:
    """The R-network with fast inference entry points.

    Weights are loaded at construction (`weights_path`) or later with `load_weights`. All
    inference runs inside `tf.function` (no `Model.predict`), with BatchNorm in inference
    mode.

    Where the architecture comes from: with `weights_path`, from the file (its recorded
    architecture, or for a file without one, e.g. the original's, the one its weights' shapes
    give, see `deduce_architecture`); the file wins over the gin bindings of
    `build_embedding_network` / `build_comparator_network`, which then do not apply. An
    explicit `input_shape` that differs from the file's recorded one raises an
    ArchitectureMismatchError naming both; for a file that records none, `input_shape` (else
    120x160 with the file's channels) is taken. Without `weights_path`, the layers come from
    those gin bindings (else the paper's sizes) and the input shape from `input_shape` (else
    120x160x3). `load_weights` of a file of another architecture than the network's raises an
    ArchitectureMismatchError naming both and what to pass.
    """

    def __init__(
        self,
        input_shape: Sequence[int] | None = None,
        weights_path: str | None = None,
        jit_compile: bool = False,
        inference_dtype: str = "float32",
    ):
        """Args:
        input_shape: (H, W, C), frame shape, or None: the weight file's, else 120x160x3.
        weights_path: str or None, an `.h5` weight file (the original's or this project's);
          the network is built with its architecture (see the class docstring).
        jit_compile: bool, compile inference with XLA.
        inference_dtype: str, 'float32' (default), 'bfloat16' or 'auto' (bf16 where the
          hardware computes it natively, see `resolve_inference_dtype`). With bf16,
          `embed` runs a bf16 copy of the embedding branch and the key-based comparison
          (`similarity_from_keys`, `memory_similarities`) multiplies in bf16 with fp32
          batch norms and softmax. Weights, training and `similarity` stay fp32. Call
          `sync_inference_weights()` after changing the weights other than through
          `load_weights`. fp32 is the default because it is the original's precision; what
          bf16 changes, measured with `benchmarks/bf16_fidelity.py` on a 2-core CPU with
          AVX512-BF16 (shared with a background training job), paper-size network (weights
          of a short run of the original code, fine-tuned 300 steps on VizDoom pairs, two
          runs: seeds 0 and 10; untuned, its similarities on real frames saturate at 0),
          2 x 1,575 frames of random-policy vizdoom_dense episodes, a 200-entry memory with
          90th-percentile aggregation: embeddings differ by 0.4-0.5% relative (median; max
          0.74%), single similarities by at most 0.049 (mean 0.002), the bonus (beta -
          aggregate) by at most 0.041 (mean 0.002-0.004), and the add-to-memory decision
          (aggregate < 0.5) flips at 6 of 3,144 steps (0.19%). Embedding a batch of 128
          120x160x3 frames: 1.2-1.3 s in bf16 against 2.0-2.7 s in fp32 (1.6-2.1x faster;
          both slowed by the shared machine).
        """
        inference_dtype = resolve_inference_dtype(inference_dtype)
        weights_path = pretrained.resolve(weights_path)
        embedding_sizes, comparator_sizes = {}, {}  # explicit arguments win over gin bindings
        if weights_path:
            file_architecture = self._file_architecture(weights_path, input_shape)
            input_shape = file_architecture["input_shape"]
            embedding_sizes = {
                key: file_architecture[key]
                for key in ("stage_filters", "blocks_per_stage", "embedding_size", "input_pooling")
            }
            comparator_sizes = {
                "hidden_units": file_architecture["comparator_hidden_units"],
                "num_hidden_layers": file_architecture["comparator_hidden_layers"],
            }
        self.input_shape = tuple(int(d) for d in (DEFAULT_INPUT_SHAPE if input_shape is None else input_shape))
        self.inference_dtype = inference_dtype
        self.embedding_network, self._embedding_branch = build_embedding_network(self.input_shape, **embedding_sizes)
        self._inference_embedding_network = self.embedding_network
        if inference_dtype == "bfloat16":
            previous_policy = keras.config.dtype_policy()
            keras.config.set_dtype_policy("mixed_bfloat16")
            try:
                self._inference_embedding_network, _ = build_embedding_network(
                    **self._embedding_branch.settings
                )  # the same sizes, whatever gin says now
            finally:
                keras.config.set_dtype_policy(previous_policy)
            self.sync_inference_weights()
        embedding_size = self.embedding_network.output.shape[-1]
        self.comparator, self.comparator_logits, self._comparator_branch = build_comparator_network(
            embedding_size=embedding_size, **comparator_sizes
        )
        first = keras.Input(shape=self.input_shape, name="x1")
        second = keras.Input(shape=self.input_shape, name="x2")
        self.pair_model = keras.Model(
            [first, second],
            self.comparator([self.embedding_network(first), self.embedding_network(second)]),
            name="r_network",
        )
        self.embedding_size = int(embedding_size)
        frame_spec = [None, *self.input_shape]
        embed = lambda frames: tf.cast(
            self._inference_embedding_network(tf.cast(frames, tf.float32), training=False), tf.float32
        )
        self._embed_fns = {
            dtype: tf.function(embed, input_signature=[tf.TensorSpec(frame_spec, dtype)], jit_compile=jit_compile)
            for dtype in (tf.uint8, tf.float32)
        }
        pair_spec = [tf.TensorSpec([None, self.embedding_size], tf.float32)] * 2
        self._logits_fn = tf.function(
            lambda a, b: self.comparator_logits([a, b], training=False),
            input_signature=pair_spec,
            jit_compile=jit_compile,
        )
        key_size = self._comparator_branch.weighted_layers[1].units
        embedding_spec = [tf.TensorSpec([None, self.embedding_size], tf.float32)]
        self._query_keys_fn = tf.function(
            lambda e: self._half_projection(e, first=True), input_signature=embedding_spec
        )
        self._memory_keys_fn = tf.function(
            lambda e: self._half_projection(e, first=False), input_signature=embedding_spec
        )
        key_spec = [tf.TensorSpec([None, key_size], tf.float32)] * 2
        self._similarity_from_keys_fn = tf.function(
            self._similarity_from_keys, input_signature=key_spec, jit_compile=jit_compile
        )
        self._memory_similarities_fn = tf.function(
            lambda query, memory: tf.reshape(
                self._comparator_tail(tf.reshape(query[:, None, :] + memory, [-1, key_size])), tf.shape(memory)[:2]
            ),
            input_signature=[
                tf.TensorSpec([None, key_size], tf.float32),
                tf.TensorSpec([None, None, key_size], tf.float32),
            ],
            jit_compile=jit_compile,
        )
        if weights_path:
            self.load_weights(weights_path)

    @property
    def architecture(self) -> dict:
        """The network's sizes, as a weight file records them (keys `ARCHITECTURE_KEYS`)."""
        return _normalized_architecture({**self._embedding_branch.settings, **self._comparator_branch.settings})

    @staticmethod
    def _file_architecture(path: str, input_shape: Sequence[int] | None) -> dict:
        """The architecture to build for `path`; an explicit conflicting `input_shape` raises."""
        recorded = read_architecture(path)
        if recorded is None:
            return deduce_architecture(path, input_shape)
        if input_shape is not None and [int(d) for d in input_shape] != recorded["input_shape"]:
            shape = tuple(recorded["input_shape"])
            raise ArchitectureMismatchError(
                f"R-network weights {path!r} were trained on {_shape_text(shape)} frames, but "
                f"input_shape={tuple(int(d) for d in input_shape)} ({_shape_text(input_shape)}) was passed: "
                f"pass input_shape={shape} or no input_shape (the file's is taken then), and give the "
                f"network {_shape_text(shape)} frames",
                path,
                recorded,
                {**recorded, "input_shape": [int(d) for d in input_shape]},
            )
        return recorded

    # Inference ---------------------------------------------------------------------------------

    def sync_inference_weights(self) -> None:
        """Copies the fp32 embedding weights into the bf16 inference copy (no-op for fp32)."""
        if self._inference_embedding_network is not self.embedding_network:
            self._inference_embedding_network.set_weights(self.embedding_network.get_weights())

    def embed(self, frames) -> np.ndarray:
        """Embeds frames [B, H, W, C] (uint8, or float on the same 0..255 scale) -> [B, 512]."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or tuple(frames.shape[1:]) != self.input_shape:
            raise ValueError(
                f"frames must have shape [B, {', '.join(map(str, self.input_shape))}], got {list(frames.shape)}"
            )
        if frames.dtype != np.uint8:
            frames = frames.astype(np.float32, copy=False)
        return self._embed_fns[tf.as_dtype(frames.dtype)](frames).numpy()

    def similarity_logits(self, embeddings_a, embeddings_b) -> np.ndarray:
        """Pre-softmax comparator outputs [B, 2] for pairs of embeddings [B, E] and [B, E]."""
        embeddings_a = self._check_embeddings(embeddings_a)
        embeddings_b = self._check_embeddings(embeddings_b)
        if embeddings_a.shape[0] != embeddings_b.shape[0]:
            raise ValueError(f"embedding batches differ: {embeddings_a.shape[0]} vs {embeddings_b.shape[0]}")
        return self._logits_fn(embeddings_a, embeddings_b).numpy()

    def similarity(self, embeddings_a, embeddings_b) -> np.ndarray:
        """Probability [B] that each pair is reachable (softmax class 1)."""
        logits = self.similarity_logits(embeddings_a, embeddings_b).astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        return (probabilities[:, 1] / probabilities.sum(axis=1)).astype(np.float32)

    # Factored comparison: the comparator's first block (concat -> BN -> ReLU -> Dense) acts on
    # each half of the concatenation separately (inference BN and ReLU are per feature), so
    # Dense(concat(a, b)) = query_key(a) + memory_key(b). Memory entries keep their key, and a
    # comparison against a memory skips ~40% of the comparator's multiply-adds. Keys depend on
    # the weights: recompute stored keys after training the network.

    def _half_projection(self, embeddings, first: bool):
        norm, dense = self._comparator_branch.weighted_layers[:2]
        half = slice(0, self.embedding_size) if first else slice(self.embedding_size, None)
        scale = norm.gamma[half] * tf.math.rsqrt(norm.moving_variance[half] + norm.epsilon)
        activated = tf.nn.relu((embeddings - norm.moving_mean[half]) * scale + norm.beta[half])
        projected = tf.matmul(activated, dense.kernel[half])
        return projected + dense.bias if first else projected

    def _similarity_from_keys(self, query_keys, memory_keys):
        return self._comparator_tail(query_keys + memory_keys)

    def _comparator_tail(self, x):
        """Similarity from the first block's pre-activation (query key + memory key)."""
        low_precision = self.inference_dtype == "bfloat16"
        for layer in self._comparator_branch.weighted_layers[2:]:
            if low_precision and isinstance(layer, keras.layers.Dense):
                # bf16 products, fp32 result: the comparator's 3 x 512 x 512 matmuls per pair
                # are ~95% of a memory comparison's arithmetic.
                x = (
                    tf.cast(tf.matmul(tf.cast(x, tf.bfloat16), tf.cast(layer.kernel, tf.bfloat16)), tf.float32)
                    + layer.bias
                )
            else:
                x = layer(x, training=False)
            if isinstance(layer, keras.layers.BatchNormalization):
                x = tf.nn.relu(x)
        return tf.nn.softmax(x)[:, 1]

    def query_keys(self, embeddings) -> np.ndarray:
        """Comparator keys of current embeddings [B, E] (first argument of a comparison)."""
        return self._query_keys_fn(self._check_embeddings(embeddings)).numpy()

    def memory_keys(self, embeddings) -> np.ndarray:
        """Comparator keys of memory embeddings [B, E] (second argument of a comparison)."""
        return self._memory_keys_fn(self._check_embeddings(embeddings)).numpy()

    def similarity_from_keys(self, query_keys, memory_keys) -> np.ndarray:
        """`similarity(a, b)` computed from `query_keys(a)` and `memory_keys(b)`, [B]."""
        return self._similarity_from_keys_fn(
            np.asarray(query_keys, np.float32), np.asarray(memory_keys, np.float32)
        ).numpy()

    def memory_similarities(self, query_keys, memory_keys) -> np.ndarray:
        """Similarities [N, M] of query i to each of memory i's M entries, from their keys
        ([N, K] and [N, M, K]); the pairs are formed inside the graph, not in numpy."""
        return self._memory_similarities_fn(
            np.asarray(query_keys, np.float32), np.asarray(memory_keys, np.float32)
        ).numpy()

    def _check_embeddings(self, embeddings) -> np.ndarray:
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_size:
            raise ValueError(f"embeddings must have shape [B, {self.embedding_size}], got {list(embeddings.shape)}")
        return embeddings

    # Checkpoints -------------------------------------------------------------------------------

    def _groups(self):
        return {"model": _ordered_weights(self._embedding_branch), "model_1": _ordered_weights(self._comparator_branch)}

    def load_weights(self, path: str) -> None:
        """Loads an `.h5` file in the original's layout (the original's or ours).

        Raises CheckpointError (naming the file and the problem) for an unreadable file, a
        missing group or a weight whose shape does not fit, and its ArchitectureMismatchError
        (naming both architectures and what to pass) for a file of another architecture (the
        recorded one, input shape included, or the one the weights' shapes give); the network
        is left unchanged then.
        """
        with _open_weights(path) as handle:
            recorded = _recorded_architecture(handle, path)
            if recorded is not None and recorded != self.architecture:
                raise _mismatch_error(path, recorded, self.architecture, deduced=False)
            if recorded is None:
                shapes = _stored_shapes(handle, path)
                if shapes != {name: [tuple(v.shape) for v in variables] for name, variables in self._groups().items()}:
                    try:
                        deduced = _architecture_from_shapes(shapes, self.input_shape, path)
                    except CheckpointError:
                        deduced = None  # not ours: the array-by-array check below names the problem
                    if deduced is not None:
                        raise _mismatch_error(path, deduced, self.architecture, deduced=True)
            values = {}
            for group_name, variables in self._groups().items():
                group, names = _weight_group(handle, group_name, path)
                if len(names) != len(variables):
                    raise CheckpointError(
                        f"R-network weights {path!r}: group {group_name!r} holds {len(names)} "
                        f"arrays, the network has {len(variables)} (different architecture or input shape?)"
                    )
                try:
                    arrays = [np.asarray(group[name]) for name in names]
                except (KeyError, OSError) as e:
                    raise CheckpointError(f"R-network weights {path!r} are truncated or corrupt: {e}") from e
                for name, array, variable in zip(names, arrays, variables):
                    if tuple(array.shape) != tuple(variable.shape):
                        raise CheckpointError(
                            f"R-network weights {path!r}: {group_name}/{name} has shape "
                            f"{array.shape}, the network expects {tuple(variable.shape)}"
                        )
                values[group_name] = arrays
        for group_name, variables in self._groups().items():
            for variable, array in zip(variables, values[group_name]):
                variable.assign(array)
        self.sync_inference_weights()

    def save_weights(self, path: str) -> None:
        """Writes the weights in the original's `.h5` layout, atomically (temp file + rename),
        with the architecture as root attributes (`ARCHITECTURE_KEYS`, see `read_architecture`)."""
        with atomic_files.atomic_path(path) as tmp_path:
            with h5py.File(tmp_path, "w") as handle:
                handle.attrs["backend"] = "tensorflow"
                handle.attrs["keras_version"] = keras.__version__
                handle.attrs["layer_names"] = np.array([b"x1", b"x2", b"model", b"model_1"])
                for key, value in self.architecture.items():
                    if OPTIONAL_ARCHITECTURE_DEFAULTS.get(key, object()) != value:
                        handle.attrs[key] = np.asarray(value, np.int64)
                for name in ("x1", "x2"):
                    handle.create_group(name).attrs["weight_names"] = np.array([], dtype="S1")
                for group_name, variables in self._groups().items():
                    group = handle.create_group(group_name)
                    names = [_variable_name(v, 0) for v in variables]
                    group.attrs["weight_names"] = np.array([n.encode() for n in names])
                    for name, variable in zip(names, variables):
                        group.create_dataset(name, data=np.asarray(variable.numpy()))
