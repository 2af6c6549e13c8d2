"""TensorFlow: TF1 checkpoints through their meta graph (as the original app loaded them),
SavedModel signatures and Keras files."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from node.inference.backends.backend import (
    NO_INPUTS,
    BackendModel,
    BackendOptions,
    require_file,
)
from node.inference.descriptor import ModelDescriptor, ModelError
from node.inference.tfutil import tensorflow

log = logging.getLogger(__name__)


def _tf() -> Any:
    return tensorflow()


def tensor_name(opname: str) -> str:
    """The original app's rule: a graph op name gets `:0` appended to name its first output."""
    return opname if ":" in opname else f"{opname}:0"


class _TensorFlowModel(BackendModel):
    @classmethod
    def unavailable_reason(cls) -> str | None:
        if importlib.util.find_spec("tensorflow") is None:
            return "TensorFlow is not installed: pip install 'pix2pix-node[tf]'"
        return None


def _eager_threads(tf: Any, threads: int | None) -> None:
    """TensorFlow's eager thread pool is process-wide and fixed once it has run anything."""
    if not threads or tf.config.threading.get_intra_op_parallelism_threads() == threads:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:
        log.warning("TensorFlow already runs; threads = %d applies after a restart", threads)


def checkpoint_prefix(desc: ModelDescriptor) -> Path:
    """A checkpoint folder means its latest checkpoint; otherwise the path is the prefix."""
    path = desc.path
    if path.is_dir():
        latest = _tf().train.latest_checkpoint(str(path))
        if latest is None:
            raise ModelError(f"{desc.json_path}: no checkpoint in {path} (no 'checkpoint' file)")
        return Path(latest)
    if not Path(f"{path}.index").exists():
        raise ModelError(
            f"{desc.json_path}: checkpoint not found: {path} (looked beside the "
            "JSON file and in the working folder)"
        )
    return path


class TF1CheckpointModel(_TensorFlowModel):
    """The original app's loader: import_meta_graph + restore in an own Graph and Session."""

    format = "tf1-checkpoint"

    def __init__(self, desc: ModelDescriptor, session: Any, inp: Any, out: Any) -> None:
        super().__init__(desc)
        self._session, self._inp, self._out = session, inp, out

    @classmethod
    def load(cls, desc: ModelDescriptor, options: BackendOptions) -> TF1CheckpointModel:
        tf = _tf()
        prefix = checkpoint_prefix(desc)
        meta = Path(f"{prefix}.meta")
        if not meta.exists():
            raise ModelError(f"{desc.json_path}: the checkpoint has no graph: {meta} is missing")
        graph = tf.Graph()
        config = tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=options.threads or 0, inter_op_parallelism_threads=1
        )
        session = tf.compat.v1.Session(graph=graph, config=config)
        try:
            with graph.as_default():
                saver = tf.compat.v1.train.import_meta_graph(str(meta), clear_devices=True)
                saver.restore(session, str(prefix))
            assert desc.input.opname and desc.output.opname  # the descriptor requires them
            inp = graph.get_tensor_by_name(tensor_name(desc.input.opname))
            out = graph.get_tensor_by_name(tensor_name(desc.output.opname))
        except KeyError as exc:
            session.close()
            raise ModelError(f"{prefix}: the graph has no tensor {exc}") from None
        except Exception as exc:
            session.close()
            raise ModelError(f"{prefix}: TensorFlow cannot load the checkpoint: {exc}") from None
        model = cls(desc, session, inp, out)
        model.check_shape("input", inp.shape.as_list() if inp.shape.rank == 4 else [None] * 4)
        return model

    def run_native(
        self, batch: np.ndarray, extra: Mapping[str, np.ndarray] = NO_INPUTS
    ) -> np.ndarray:
        result: np.ndarray = self._session.run(self._out, {self._inp: batch})
        return result

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


class SavedModelModel(_TensorFlowModel):
    format = "savedmodel"

    def __init__(
        self, desc: ModelDescriptor, fn: Any, in_name: str, out_name: str, keep: Any
    ) -> None:
        super().__init__(desc)
        self._fn, self._in_name, self._out_name = fn, in_name, out_name
        self._keep = keep  # the loaded object owns the variables the signature reads

    @classmethod
    def load(cls, desc: ModelDescriptor, options: BackendOptions) -> SavedModelModel:
        tf = _tf()
        require_file(desc, folder=True)
        _eager_threads(tf, options.threads)
        try:
            loaded = tf.saved_model.load(str(desc.path))
        except Exception as exc:
            raise ModelError(f"{desc.path}: not a loadable SavedModel: {exc}") from None
        if "serving_default" not in loaded.signatures:
            raise ModelError(f"{desc.path}: no serving_default signature")
        fn = loaded.signatures["serving_default"]
        inputs = fn.structured_input_signature[1]
        outputs = fn.structured_outputs
        in_name = _choose(desc, "input", list(inputs), desc.input.opname)
        out_name = _choose(desc, "output", list(outputs), desc.output.opname)
        model = cls(desc, fn, in_name, out_name, loaded)
        model.check_shape("input", inputs[in_name].shape.as_list())
        return model

    def run_native(
        self, batch: np.ndarray, extra: Mapping[str, np.ndarray] = NO_INPUTS
    ) -> np.ndarray:
        result: np.ndarray = self._fn(**{self._in_name: batch})[self._out_name].numpy()
        return result


class KerasModel(_TensorFlowModel):
    format = "keras"

    def __init__(self, desc: ModelDescriptor, fn: Any) -> None:
        super().__init__(desc)
        self._fn = fn

    @classmethod
    def load(cls, desc: ModelDescriptor, options: BackendOptions) -> KerasModel:
        tf = _tf()
        require_file(desc)
        _eager_threads(tf, options.threads)
        try:
            keras_model = tf.keras.models.load_model(str(desc.path), compile=False)
        except Exception as exc:
            raise ModelError(f"{desc.path}: Keras cannot load it: {exc}") from None
        fn = tf.function(lambda x: keras_model(x, training=False))
        model = cls(desc, fn)
        model.check_shape("input", list(keras_model.inputs[0].shape))
        return model

    def run_native(
        self, batch: np.ndarray, extra: Mapping[str, np.ndarray] = NO_INPUTS
    ) -> np.ndarray:
        result: np.ndarray = self._fn(batch).numpy()
        return result


def _choose(desc: ModelDescriptor, what: str, names: list[str], wanted: str | None) -> str:
    if wanted is None:
        if len(names) != 1:
            raise ModelError(f"{desc.json_path}: the model has {what}s {names}; set {what}.opname")
        return names[0]
    plain = wanted.split(":")[0]
    if plain not in names:
        raise ModelError(f"{desc.path}: no {what} named {wanted!r} (it has {', '.join(names)})")
    return plain
