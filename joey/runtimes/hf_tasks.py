"""Wallaroo's 16 Hugging Face frameworks as data: schemas, columns, call rules, library lines.

Importable without transformers or torch (the platform venv has neither): the upload
checks and the schema defaults read it there, the runtime reads it inside the model's
isolated environment.

Each ``HfTask`` says how a request row becomes one pipeline call:

- ``positional`` columns are the pipeline's input (``inputs``; ``images`` for zero-shot
  object detection; ``question`` + ``context`` for question answering; ``prompt`` for
  text-to-image); ``required`` adds ``candidate_labels`` for the zero-shot tasks;
- ``kwargs`` are the optional columns passed to the pipeline call when a row gives them;
- ``extras`` is what happens to any other column: ``"generate"`` (the four generating
  tasks: keyword arguments of the model's ``generate``), ``"pipeline"``
  (text-classification: keyword arguments of the pipeline call, i.e. the tokenizer) or
  ``"error"`` (the column is refused by name).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa

__all__ = [
    "HF_TASKS",
    "TRANSFORMERS_LINES",
    "HfTask",
    "find_model_dir",
    "hf_task",
    "image_type",
    "transformers_line",
]

Extras = Literal["generate", "pipeline", "error"]

TRANSFORMERS_LINES: dict[str, list[str]] = {
    # diffusers 0.40+ needs huggingface-hub>=1.32, transformers 4.57.6 needs <1.0: 0.39.0 is
    # the newest diffusers that installs beside 4.57.6. Never torchvision or timm (CUDA builds
    # that break every pipeline import with the CPU torch).
    "4": ["torch==2.13.0", "transformers==4.57.6", "diffusers==0.39.0", "accelerate==1.15.0",
          "pillow"],
    "5": ["torch==2.13.0", "transformers==5.24.0", "diffusers==0.42.1", "accelerate==1.15.0",
          "pillow"],
}
"""Pinned requirements of each transformers line, keyed by the line's major version."""


def image_type(height: int, width: int) -> pa.DataType:
    """An RGB image as Wallaroo's schemas write it: ``[H][W][3]`` int64 fixed-size lists."""
    return pa.list_(pa.list_(pa.list_(pa.int64(), 3), width), height)


@dataclass(frozen=True)
class HfTask:
    """One Wallaroo Hugging Face framework and how its rows become pipeline calls."""

    framework: str
    """Wallaroo's framework value, e.g. ``hugging-face-text-classification``."""
    task: str
    """The transformers pipeline task (``text-to-image`` for the diffusers pipeline)."""
    inputs: pa.Schema
    """Default input schema (the seed's)."""
    outputs: pa.Schema
    """Default output schema (the seed's)."""
    positional: tuple[str, ...]
    """Columns that are the pipeline's input."""
    required: tuple[str, ...]
    """Columns every row must give."""
    kwargs: tuple[str, ...]
    """Optional columns passed as keyword arguments of the pipeline call."""
    extras: Extras
    """Where any other column goes: ``generate``, the ``pipeline`` call, or an ``error``."""
    batchable: bool
    """Rows with equal keyword arguments may share one pipeline call (a list input)."""
    removed_in_5: bool = False
    """transformers 5 dropped the pipeline: the model always runs on line ``"4"``."""

    @property
    def known(self) -> tuple[str, ...]:
        """Every column the task itself names."""
        return tuple(dict.fromkeys(self.positional + self.required + self.kwargs))

    @property
    def generating(self) -> bool:
        return self.extras == "generate"

    @property
    def diffusers(self) -> bool:
        return self.task == "text-to-image"


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema([pa.field(name, kind) for name, kind in fields])


_STR, _F64, _I64, _BOOL = pa.string(), pa.float64(), pa.int64(), pa.bool_()
_IMG = image_type(100, 100)
_LABELS2 = _schema(("label", pa.list_(_STR, 2)), ("score", pa.list_(_F64, 2)))
_DETECTIONS = _schema(("score", pa.list_(_F64)), ("label", pa.list_(_STR)),
                      ("box", pa.list_(pa.list_(_I64, 4))))
_CHUNK = pa.struct([("text", _STR), ("timestamp", pa.list_(pa.float32()))])


def _text_classification(framework: str, task: str) -> HfTask:
    return HfTask(framework, task, _schema(("inputs", _STR), ("top_k", _I64),
                                           ("function_to_apply", _STR)),
                  _LABELS2, ("inputs",), ("inputs",), ("top_k", "function_to_apply"),
                  "pipeline", True)


_ALL = [
    HfTask("hugging-face-feature-extraction", "feature-extraction",
           _schema(("inputs", _STR)), _schema(("output", pa.list_(pa.list_(_F64, 128)))),
           ("inputs",), ("inputs",), (), "error", True),
    HfTask("hugging-face-image-classification", "image-classification",
           _schema(("inputs", _IMG), ("top_k", _I64)),
           _schema(("score", pa.list_(_F64, 2)), ("label", pa.list_(_STR, 2))),
           ("inputs",), ("inputs",), ("top_k",), "error", True),
    HfTask("hugging-face-image-segmentation", "image-segmentation",
           _schema(("inputs", _IMG), ("threshold", _F64), ("mask_threshold", _F64),
                   ("overlap_mask_area_threshold", _F64)),
           _schema(("score", pa.list_(_F64)), ("label", pa.list_(_STR)),
                   ("mask", pa.list_(pa.list_(pa.list_(_I64, 100), 100)))),
           ("inputs",), ("inputs",), ("threshold", "mask_threshold", "overlap_mask_area_threshold"),
           "error", True),
    # A list input runs an image-text-to-text pipeline (transformers 5) row by row anyway.
    HfTask("hugging-face-image-to-text", "image-to-text",
           _schema(("inputs", _IMG)), _schema(("generated_text", pa.list_(_STR))),
           ("inputs",), ("inputs",), (), "generate", False),
    HfTask("hugging-face-object-detection", "object-detection",
           _schema(("inputs", _IMG), ("threshold", _F64)), _DETECTIONS,
           ("inputs",), ("inputs",), ("threshold",), "error", True),
    HfTask("hugging-face-question-answering", "question-answering",
           _schema(("question", _STR), ("context", _STR), ("top_k", _I64), ("doc_stride", _I64),
                   ("max_answer_len", _I64), ("max_seq_len", _I64), ("max_question_len", _I64),
                   ("handle_impossible_answer", _BOOL), ("align_to_words", _BOOL)),
           _schema(("score", _F64), ("start", _I64), ("end", _I64), ("answer", _STR)),
           ("question", "context"), ("question", "context"),
           ("top_k", "doc_stride", "max_answer_len", "max_seq_len", "max_question_len",
            "handle_impossible_answer", "align_to_words"), "error", True, removed_in_5=True),
    HfTask("hugging-face-stable-diffusion-text-2-img", "text-to-image",
           _schema(("prompt", _STR), ("height", _I64), ("width", _I64),
                   ("num_inference_steps", _I64), ("guidance_scale", _F64),
                   ("negative_prompt", _STR), ("num_images_per_prompt", _STR), ("eta", _F64)),
           _schema(("images", image_type(128, 128))),
           ("prompt",), ("prompt",),
           ("height", "width", "num_inference_steps", "guidance_scale", "negative_prompt",
            "num_images_per_prompt", "eta"), "error", True),
    HfTask("hugging-face-summarization", "summarization",
           _schema(("inputs", _STR), ("return_text", _BOOL), ("return_tensors", _BOOL),
                   ("clean_up_tokenization_spaces", _BOOL)),
           _schema(("summary_text", _STR)),
           ("inputs",), ("inputs",), ("return_text", "return_tensors", "clean_up_tokenization_spaces"),
           "generate", True, removed_in_5=True),
    _text_classification("hugging-face-text-classification", "text-classification"),
    HfTask("hugging-face-translation", "translation",
           _schema(("inputs", _STR), ("return_tensors", _BOOL), ("return_text", _BOOL),
                   ("clean_up_tokenization_spaces", _BOOL), ("src_lang", _STR), ("tgt_lang", _STR)),
           _schema(("translation_text", _STR)),
           ("inputs",), ("inputs",),
           ("return_tensors", "return_text", "clean_up_tokenization_spaces", "src_lang", "tgt_lang"),
           "generate", True, removed_in_5=True),
    HfTask("hugging-face-zero-shot-classification", "zero-shot-classification",
           _schema(("inputs", _STR), ("candidate_labels", pa.list_(_STR, 2)),
                   ("hypothesis_template", _STR), ("multi_label", _BOOL)),
           _schema(("sequence", _STR), ("scores", pa.list_(_F64, 2)), ("labels", pa.list_(_STR, 2))),
           ("inputs",), ("inputs", "candidate_labels"),
           ("candidate_labels", "hypothesis_template", "multi_label"), "error", True),
    HfTask("hugging-face-zero-shot-image-classification", "zero-shot-image-classification",
           _schema(("inputs", _IMG), ("candidate_labels", pa.list_(_STR, 2)),
                   ("hypothesis_template", _STR)),
           _schema(("score", pa.list_(_F64, 2)), ("label", pa.list_(_STR, 2))),
           ("inputs",), ("inputs", "candidate_labels"), ("candidate_labels", "hypothesis_template"),
           "error", True),
    # Wallaroo refuses top_k here on purpose: it is not a column.
    HfTask("hugging-face-zero-shot-object-detection", "zero-shot-object-detection",
           _schema(("images", image_type(480, 640)), ("candidate_labels", pa.list_(_STR, 3)),
                   ("threshold", _F64)), _DETECTIONS,
           ("images",), ("images", "candidate_labels"), ("candidate_labels", "threshold"),
           "error", True),
    _text_classification("hugging-face-sentiment-analysis", "sentiment-analysis"),
    HfTask("hugging-face-text-generation", "text-generation",
           _schema(("inputs", _STR), ("return_tensors", _BOOL), ("return_text", _BOOL),
                   ("return_full_text", _BOOL), ("clean_up_tokenization_spaces", _BOOL),
                   ("prefix", _STR), ("handle_long_generation", _STR)),
           _schema(("generated_text", pa.list_(_STR, 1))),
           ("inputs",), ("inputs",),
           ("return_tensors", "return_text", "return_full_text", "clean_up_tokenization_spaces",
            "prefix", "handle_long_generation"), "generate", True),
    HfTask("hugging-face-automatic-speech-recognition", "automatic-speech-recognition",
           _schema(("inputs", pa.list_(pa.float32())), ("return_timestamps", _STR)),
           _schema(("text", _STR), ("chunks", pa.list_(_CHUNK))),
           ("inputs",), ("inputs",), ("return_timestamps",), "error", True),
]

HF_TASKS: dict[str, HfTask] = {t.framework: t for t in _ALL}
"""Every Wallaroo Hugging Face framework value -> its task record."""


def hf_task(framework: str) -> HfTask:
    """The record of a framework value; ``ValueError`` naming the known ones otherwise."""
    try:
        return HF_TASKS[str(framework)]
    except KeyError:
        raise ValueError(f"{framework!r} is not a Hugging Face framework; "
                         f"known: {', '.join(HF_TASKS)}") from None


_MARKERS = ("config.json", "model_index.json")


def _is_model_dir(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _MARKERS)


def find_model_dir(folder: Path) -> Path:
    """The folder holding ``config.json`` (transformers) or ``model_index.json`` (diffusers):
    ``folder`` itself or its one top-level sub-folder (``__MACOSX`` and hidden ones ignored)."""
    if _is_model_dir(folder):
        return folder
    subfolders = [p for p in folder.iterdir() if p.is_dir()
                  and p.name != "__MACOSX" and not p.name.startswith(".")] if folder.is_dir() else []
    if len(subfolders) == 1 and _is_model_dir(subfolders[0]):
        return subfolders[0]
    found = sorted(p.name for p in folder.iterdir())[:10] if folder.is_dir() else []
    raise ValueError("a Hugging Face model needs config.json or model_index.json at the root of "
                     f"the zip or under one top-level folder (as save_pretrained writes it); found {found}")


def _saved_version(model_dir: Path) -> str | None:
    """The ``transformers_version`` the model was saved with, if it recorded one."""
    candidates = [model_dir / "config.json"]
    if (model_dir / "model_index.json").is_file():
        candidates = [model_dir / "text_encoder" / "config.json",
                      *sorted(model_dir.glob("*/config.json")), model_dir / "model_index.json"]
    for path in candidates:
        try:
            version = json.loads(path.read_text()).get("transformers_version")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(version, str) and version:
            return version
    return None


def transformers_line(model_dir: Path, framework: str) -> str:
    """``"4"`` or ``"5"``: the ``TRANSFORMERS_LINES`` key to run the model with.

    The saved ``transformers_version`` decides (``config.json``; for a diffusers folder its
    text encoder's). A model that records none is taken as a 4.x one (Wallaroo pinned 4.34).
    Summarization, translation and question answering always pick ``"4"``: transformers 5
    removed those pipelines, and a model saved with 5.x for them still runs on 4.57.6 (the
    line-4 pins read the saved tokenizer.json and safetensors).
    """
    if hf_task(framework).removed_in_5:
        return "4"
    version = _saved_version(model_dir)
    if version is None:
        return "4"
    major = version.split(".", 1)[0]
    return "5" if major.isdigit() and int(major) >= 5 else "4"


# -- upload hooks (joey.runtimes.registry) -------------------------------------------------


def default_schemas(_artifact: Path, framework: str) -> tuple[pa.Schema, pa.Schema]:
    """The task's schemas (Wallaroo's seed) when the upload gives none."""
    task = hf_task(framework)
    return task.inputs, task.outputs


def requirements_of(artifact: Path, framework: str) -> list[str]:
    """The environment of the model's transformers line, with the model folder's own
    ``requirements.txt`` (if any) overriding a pinned package by name."""
    from joey.runtimes.archive import parse_requirements, requirement_name, unpack

    model_dir = find_model_dir(unpack(artifact))
    pinned = list(TRANSFORMERS_LINES[transformers_line(model_dir, framework)])
    own = model_dir / "requirements.txt"
    if own.is_file():
        users = parse_requirements(own.read_text())
        names = {requirement_name(r) for r in users}
        if "torchvision" in names or "timm" in names:
            raise ValueError("torchvision and timm are refused: their registry builds need CUDA "
                             "and break every transformers pipeline on the CPU torch")
        pinned = [r for r in pinned if requirement_name(r) not in names or requirement_name(r) == "torch"]
        pinned += [r for r in users if requirement_name(r) != "torch"]
    return pinned


def extra_columns(framework: str) -> str:
    """What the ingress does with request columns the schema does not name: passed to the
    model for the generating tasks and text-classification, refused by name otherwise."""
    return "refuse" if hf_task(framework).extras == "error" else "pass"
