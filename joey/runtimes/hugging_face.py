"""Hugging Face pipelines (Wallaroo's ``hugging-face-*`` frameworks) and Stable Diffusion.

Runs inside the model's isolated environment (one of ``hf_tasks.TRANSFORMERS_LINES``):
torch, transformers, diffusers and pillow are imported inside methods, never at the top,
since the platform venv has none of them.

Rows become calls as ``hf_tasks.HfTask`` says: one row is one pipeline input, the task's
optional columns are that row's keyword arguments, a null means "not given". Rows whose
arguments are equal share one call (a list input) where the task allows it; answers keep
the rows' order. Each output value is the Python value of one row, shaped for the output
column's Arrow type.

Generation policy, the same on both transformers lines: a model generates with its own
saved ``generation_config`` (as ``model.generate`` does), not with the pipelines' defaults
(4.57 imposed ``do_sample=True, temperature=0.7, max_new_tokens=256`` on text generation
and ``num_beams=4`` on summarization, 5.x fills ``max_new_tokens=256`` where the model
sets none). The request's columns override it, per row.

transformers 5 removed summarization, translation and question answering: those models
always run on the line-4 environment (``hf_tasks.transformers_line``). There, image-to-text
is the ``image-text-to-text`` pipeline called with an empty prompt (plain captioning).

Stable Diffusion draws each image's latents from its own generator seeded 0, so a row's
image does not depend on the rows batched with it and a request is reproducible.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from joey.errors import InvalidInputError
from joey.runtimes.archive import unpack
from joey.runtimes.base import InferenceData, Runtime, RuntimeConfig, SchemaConfig
from joey.runtimes.hf_tasks import HfTask, find_model_dir, hf_task
from joey.spec import TensorField

__all__ = ["HuggingFaceConfig", "HuggingFaceRuntime"]

_WORDS = ("cat", "dog", "bird", "fish", "horse", "tree", "car", "house")
_ONE_FORWARD = frozenset({"text-classification", "sentiment-analysis", "zero-shot-classification"})
"""Tasks whose rows sharing a call run as one forward pass (``batch_size`` = the rows) when
the tokenizer pads: text in, one answer per sequence, padding masked out. Not the others:
without ``batch_size`` transformers runs a list one row per forward; feature extraction
would answer the padded positions, decoder-only generation pads on the wrong side,
audio and image models see the padding."""


class HuggingFaceConfig(SchemaConfig):
    """The user's schemas and the Wallaroo framework value, e.g. ``hugging-face-summarization``."""

    task: str


def _is_image(task: HfTask, column: str) -> bool:
    """Whether the task's default schema gives ``column`` as an [H][W][3] image."""
    if column not in task.inputs.names:
        return False
    kind = task.inputs.field(column).type
    depth = 0
    while hasattr(kind, "value_type"):
        kind, depth = kind.value_type, depth + 1
    return depth == 3


def _plain(value: Any) -> Any:
    """A request value as a Python value; ``None`` when the row does not give it."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.ndim else _plain(value.item())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _dense(value: Any) -> np.ndarray:
    """A row's nested lists as one array: Arrow's ``to_numpy`` gives object arrays of object
    arrays (one level each) when a column is not dense."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return np.stack([_dense(v) for v in value]) if len(value) else np.empty(0)
    if isinstance(value, list | tuple):
        return np.stack([_dense(v) for v in value]) if value else np.empty(0)
    return np.asarray(value)


def _image(value: Any) -> Any:
    """A row's [H][W][3] image as a PIL RGB image (dense int64 array or nested objects)."""
    from PIL import Image

    array = _dense(value).astype(np.uint8)
    if array.ndim != 3 or array.shape[2] != 3:
        raise InvalidInputError(None, "an image row as [height][width][3]", f"shape {array.shape}")
    return Image.fromarray(np.ascontiguousarray(array))


def _audio(value: Any) -> np.ndarray:
    array = _dense(value).astype(np.float32)
    if array.ndim != 1:
        raise InvalidInputError(None, "an audio row as a 1-D list of samples", f"shape {array.shape}")
    return array


def _fixed_size(fields: tuple[TensorField, ...], *names: str) -> int | None:
    """The fixed list size of the first named output field, if the schema fixes one."""
    for field in fields:
        if field.name in names and field.shape and field.shape[0] is not None:
            return int(field.shape[0])
    return None


def _timestamps(value: Any) -> Any:
    """Wallaroo's ``return_timestamps`` is a string: ``word``/``char`` as is, ``true``/``false``
    as booleans (segment timestamps), empty as not given."""
    if not isinstance(value, str):
        return value
    lowered = value.strip().lower()
    if lowered in ("", "none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    return lowered


class HuggingFaceRuntime(Runtime):
    """A saved ``transformers`` pipeline (or diffusers pipeline) answering Wallaroo's rows."""

    name = "flight"
    config_type = HuggingFaceConfig
    probe_at_upload = True

    _task: HfTask
    _pipe: Any
    _major: int
    _integers: set[str]

    def load(self, artifact: Path, config: RuntimeConfig) -> None:
        schema = self.keep_schema(config)
        assert isinstance(schema, HuggingFaceConfig)
        self._task = task = hf_task(schema.task)
        if task.extras == "error":
            for field in schema.inputs:
                self._refuse_unknown(field.name)
        self._integers = {f.name for f in task.inputs if pa.types.is_integer(f.type)} | {
            f.name for f in schema.inputs if f.dtype != "string" and f.dtype != "object"
            and np.dtype(f.dtype).kind in "iu"}
        model_dir = find_model_dir(unpack(Path(artifact)))
        os.environ["HF_HUB_OFFLINE"] = "1"  # noqa: TID251 - the model is local; never the hub
        os.environ["TRANSFORMERS_OFFLINE"] = "1"  # noqa: TID251
        import torch

        cuda = torch.cuda.is_available()
        if task.diffusers:
            from diffusers import DiffusionPipeline

            self._major = 0
            self._pipe = DiffusionPipeline.from_pretrained(str(model_dir))
            if cuda:
                self._pipe = self._pipe.to("cuda")
            return
        import transformers

        self._major = int(transformers.__version__.split(".", 1)[0])
        name = task.task
        if self._major >= 5 and task.removed_in_5:
            raise ValueError(
                f"transformers {transformers.__version__} removed the {name} pipeline; "
                f"{task.framework} models run with transformers 4.57.6")
        if self._major >= 5 and name == "image-to-text":
            name = "image-text-to-text"
        self._pipe = transformers.pipeline(name, model=str(model_dir), device=0 if cuda else "cpu")
        self._use_model_generation_config()

    def _use_model_generation_config(self) -> None:
        """Generate with the model's own generation_config on both lines (module docstring)."""
        pipe = self._pipe
        tokenizer = getattr(pipe, "tokenizer", None)
        pad = getattr(tokenizer, "pad_token_id", None)
        if hasattr(pipe, "_generation_defaults"):  # transformers 5
            pipe._generation_defaults = {} if pad is None else {"pad_token_id": pad}
        elif getattr(pipe, "_pipeline_calls_generate", False) and pipe.model.can_generate():
            config = copy.deepcopy(pipe.model.generation_config)
            if config.pad_token_id is None and pad is not None:
                config.pad_token_id = pad
            pipe.generation_config = config

    def _refuse_unknown(self, column: str) -> None:
        task = self._task
        if column not in task.known:
            raise InvalidInputError(column, f"only the columns {task.framework} takes "
                                            f"({', '.join(task.known)})", "an extra column")

    # -- rows -> calls ---------------------------------------------------------------------

    def predict(self, data: InferenceData) -> InferenceData:
        task = self._task
        if task.extras == "error":
            for column in data:
                self._refuse_unknown(column)
        rows = len(next(iter(data.values()))) if data else 0
        groups: dict[str, list[int]] = {}
        calls: list[tuple[Any, dict[str, Any]]] = []
        for i in range(rows):
            call = self._row_call(data, i)
            calls.append(call)
            key = json.dumps(call[1], sort_keys=True, default=repr)
            groups.setdefault(key if task.batchable else str(i), []).append(i)
        answers: list[Any] = [None] * rows
        for indices in groups.values():
            inputs = [calls[i][0] for i in indices]
            for i, answer in zip(indices, self._call(inputs, calls[indices[0]][1]), strict=True):
                answers[i] = answer
        produced = [self._format(answer) for answer in answers]
        result: InferenceData = {}
        for field in self._outputs:
            answer = np.empty(rows, dtype=object)
            for i, values in enumerate(produced):
                if field.name not in values:
                    raise ValueError(f"{task.framework} gives no output {field.name!r}; "
                                     f"it gives {', '.join(values)}")
                answer[i] = values[field.name]
            result[field.name] = answer
        return result

    def _row_call(self, data: InferenceData, i: int) -> tuple[Any, dict[str, Any]]:
        """Row ``i`` as (pipeline input, keyword arguments of the call)."""
        task = self._task
        given: dict[str, Any] = {}
        for column, values in data.items():
            raw = values[i]
            if column in task.positional and _is_image(task, column):
                given[column] = None if raw is None else _image(raw)
            elif column == "inputs" and task.task == "automatic-speech-recognition":
                given[column] = None if raw is None else _audio(raw)
            else:
                value = _plain(raw)
                if isinstance(value, float) and column in self._integers and value.is_integer():
                    value = int(value)  # a null made numpy widen the int column to float
                if value is not None:
                    given[column] = value
        missing = [c for c in task.required if given.get(c) is None]
        if missing:
            raise InvalidInputError(missing[0], f"a value in every row ({task.framework} needs it)",
                                    f"none in row {i}")
        positional = [given.pop(c) for c in task.positional]
        kwargs = {k: v for k, v in given.items() if k in task.kwargs}
        extras = {k: v for k, v in given.items() if k not in task.kwargs}
        return self._arguments(positional, kwargs, extras)

    def _arguments(self, positional: list[Any], kwargs: dict[str, Any],
                   extras: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Task rules: defaults that keep the outputs list-shaped, conflicting flags dropped."""
        task = self._task
        kind = task.task
        if kind in ("text-classification", "sentiment-analysis", "image-classification"):
            kwargs.setdefault("top_k", _fixed_size(self._outputs, "label", "score") or
                              (1 if kind != "image-classification" else 5))
        if kind == "question-answering":
            return {"question": positional[0], "context": positional[1]}, kwargs
        if kind == "zero-shot-object-detection":
            labels = kwargs.pop("candidate_labels")
            return {"image": positional[0], "candidate_labels": labels}, kwargs
        if kind == "automatic-speech-recognition" and "return_timestamps" in kwargs:
            stamps = _timestamps(kwargs.pop("return_timestamps"))
            if stamps is not None:
                kwargs["return_timestamps"] = stamps
        if kind == "text-to-image":
            count = int(kwargs.pop("num_images_per_prompt", 1))
            if count != 1:
                raise InvalidInputError("num_images_per_prompt", "1 (the output schema holds one "
                                        "image per row)", str(count))
        if task.generating:
            self._check_text_flags(kwargs)
            if kind == "image-to-text":
                return positional[0], {"generate_kwargs": extras} if extras else {}
        return positional[0], {**kwargs, **extras}

    def _check_text_flags(self, kwargs: dict[str, Any]) -> None:
        """Keep only the return flags that change the pipeline's default (text out): passing
        ``return_text`` with ``return_full_text`` is refused by the pipeline, yet a row with
        the task's whole schema carries both."""
        output = self._task.outputs.names[0]
        if kwargs.pop("return_tensors", False):
            raise InvalidInputError("return_tensors", f"false (the output {output!r} is text)", "true")
        if not kwargs.pop("return_text", True):
            raise InvalidInputError("return_text", f"true (the output {output!r} is text)", "false")

    def _call(self, inputs: list[Any], kwargs: dict[str, Any]) -> list[Any]:
        """One pipeline call for rows sharing ``kwargs``: each row's raw answer."""
        kind = self._task.task
        if kind == "text-to-image":
            return self._diffuse(inputs, kwargs)
        if kind == "image-to-text" and self._major >= 5:
            return [self._pipe(images=image, text="", **kwargs) for image in inputs]
        if kind == "question-answering":
            if len(inputs) == 1:
                return [self._pipe(**inputs[0], **kwargs)]
            answers = self._pipe(question=[x["question"] for x in inputs],
                                 context=[x["context"] for x in inputs], **kwargs)
            return list(answers)
        if len(inputs) == 1:
            return [self._pipe(inputs[0], **kwargs)]
        if kind in _ONE_FORWARD and "batch_size" not in kwargs and self._pads():
            kwargs = {**kwargs, "batch_size": len(inputs)}
        answers = self._pipe(inputs, **kwargs)
        if len(answers) != len(inputs):
            raise RuntimeError(f"{kind} answered {len(answers)} results for {len(inputs)} rows")
        return list(answers)

    def _pads(self) -> bool:
        """Whether the pipeline's tokenizer can pad a batch (it has a pad token)."""
        tokenizer = getattr(self._pipe, "tokenizer", None)
        return tokenizer is not None and getattr(tokenizer, "pad_token_id", None) is not None

    def _diffuse(self, prompts: list[str], kwargs: dict[str, Any]) -> list[Any]:
        import torch

        generators = [torch.Generator("cpu").manual_seed(0) for _ in prompts]
        prompt: str | list[str] = prompts[0] if len(prompts) == 1 else prompts
        if isinstance(prompt, list) and isinstance(kwargs.get("negative_prompt"), str):
            kwargs = {**kwargs, "negative_prompt": [kwargs["negative_prompt"]] * len(prompts)}
        images = self._pipe(prompt=prompt, output_type="np", generator=generators, **kwargs).images
        pixels = np.clip(np.rint(np.asarray(images, dtype=np.float64) * 255), 0, 255)
        return list(pixels.astype(np.int64))

    # -- answers -> output values ----------------------------------------------------------

    def _format(self, answer: Any) -> dict[str, Any]:
        """One row's raw pipeline answer as {output name: value shaped for its Arrow type}."""
        kind = self._task.task
        if kind == "feature-extraction":
            return {"output": _plain(answer[0] if _depth(answer) == 3 else answer)}
        if kind in ("text-classification", "sentiment-analysis", "image-classification",
                    "zero-shot-image-classification"):
            answer = answer if isinstance(answer, list) else [answer]
            return {"label": [str(a["label"]) for a in answer],
                    "score": [float(a["score"]) for a in answer]}
        if kind == "zero-shot-classification":
            return {"sequence": answer["sequence"], "scores": [float(s) for s in answer["scores"]],
                    "labels": list(answer["labels"])}
        if kind == "image-segmentation":
            return {"score": [None if a.get("score") is None else float(a["score"]) for a in answer],
                    "label": [str(a["label"]) for a in answer],
                    "mask": [np.asarray(a["mask"], dtype=np.int64).tolist() for a in answer]}
        if kind in ("object-detection", "zero-shot-object-detection"):
            return {"score": [float(a["score"]) for a in answer],
                    "label": [str(a["label"]) for a in answer],
                    "box": [[int(a["box"][k]) for k in ("xmin", "ymin", "xmax", "ymax")]
                            for a in answer]}
        if kind == "question-answering":
            best = answer[0] if isinstance(answer, list) else answer
            return {"score": float(best["score"]), "start": int(best["start"]),
                    "end": int(best["end"]), "answer": str(best["answer"])}
        if kind in ("summarization", "translation"):
            first = answer[0] if isinstance(answer, list) else answer
            key = "summary_text" if kind == "summarization" else "translation_text"
            return {key: str(first[key])}
        if kind in ("text-generation", "image-to-text"):
            answer = answer if isinstance(answer, list) else [answer]
            return {"generated_text": [str(a["generated_text"]) for a in answer]}
        if kind == "automatic-speech-recognition":
            chunks = [{"text": str(c["text"]),
                       "timestamp": [None if t is None else float(t) for t in c["timestamp"]]}
                      for c in answer.get("chunks", [])]
            return {"text": str(answer["text"]), "chunks": chunks}
        if kind == "text-to-image":
            return {"images": answer.tolist()}
        raise ValueError(f"no output rule for {kind}")

    # -- upload probe ----------------------------------------------------------------------

    def example_input(self) -> InferenceData:
        """One row valid for the task: a random image of the schema's size, a short sentence,
        candidate labels, a second of audio, a small text-to-image request."""
        task = self._task
        rng = np.random.default_rng(0)
        fields = {f.name: f for f in self._inputs}
        row: InferenceData = {}
        for column in task.required:
            field = fields.get(column)
            shape = field.shape if field is not None else ()
            if _is_image(task, column):
                default = task.inputs.field(column).type
                height = shape[0] if len(shape) > 0 and shape[0] else default.list_size
                width = (shape[1] if len(shape) > 1 and shape[1] else default.value_type.list_size)
                row[column] = rng.integers(0, 256, size=(1, height, width, 3)).astype(np.int64)
            elif column == "candidate_labels":
                count = shape[0] if shape and shape[0] else 2
                row[column] = np.array([[_WORDS[i % len(_WORDS)] for i in range(count)]],
                                       dtype=object)
            elif task.task == "automatic-speech-recognition":
                seconds = np.arange(16000, dtype=np.float32) / 16000
                row[column] = (0.1 * np.sin(2 * np.pi * 440 * seconds))[None, :].astype(np.float32)
            elif column == "context":
                row[column] = np.array(["joey serves machine learning models on Ray Serve."],
                                       dtype=object)
            else:
                row[column] = np.array(["what does joey serve?" if column == "question"
                                        else "a small test sentence for joey."], dtype=object)
        if task.diffusers:
            size = _fixed_sizes(self._outputs, "images")
            for column, value in (("height", size[0]), ("width", size[1]),
                                  ("num_inference_steps", 2)):
                if column in fields and value is not None:
                    row[column] = np.array([value], dtype=np.int64)
        return row


def _fixed_sizes(fields: tuple[TensorField, ...], name: str) -> tuple[int | None, int | None]:
    for field in fields:
        if field.name == name and len(field.shape) >= 2:
            return field.shape[0], field.shape[1]
    return None, None


def _depth(value: Any) -> int:
    """How many list levels ``value`` nests (feature extraction's [1][T][H] vs [T][H])."""
    depth = 0
    while isinstance(value, list) and value:
        value, depth = value[0], depth + 1
    return depth
