"""Tiny random-weight Hugging Face models for every Wallaroo task, built offline.

Run inside an environment with transformers and diffusers (either line)::

    python -m joey.testing.hf_models build OUT_DIR TASK [TASK...]      # prints {task: zip}
    python -m joey.testing.hf_models reference MODEL_ZIP TASK ROWS_JSON # prints outputs per row

``TASK`` is a Wallaroo framework value (``hugging-face-text-classification``), ``all``, or
the name of a bigger variant (``text-classification-minilm``: MiniLM-sized, for benchmarks).
Each model is saved as Wallaroo users save theirs (``pipeline(...).save_pretrained(dir)``)
and zipped with its top-level folder (``<name>.zip``); ``<name>-flat.zip`` holds the same
files with ``config.json`` at the zip's root. transformers 5 has no summarization,
translation or question-answering pipeline: there the model and tokenizer are saved
directly, as a user of 5.x would.

``reference`` runs the rows through the plain transformers/diffusers pipeline, one call a
row with the row's columns as arguments (not through joey's runtime), so tests compare
joey's answers with the library's own. ``rows(task)`` gives two such rows per task.

Vocabularies are in memory, weights are redrawn N(0, 0.25) with a fixed seed (the default
0.02 sits on ties that flip between runs). Only this module's top imports numpy/stdlib:
the platform venv, which has no transformers, imports ``rows``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["bench_words", "build", "flat_zip", "reference", "rows"]

_WORDS = ["this", "is", "a", "test", "another", "joey", "serves", "models", "on", "ray", "what",
          "does", "do", "good", "bad", "movie", "was", "very", "it", "english", "german",
          "example", "cat", "dog", "bird", "photo", "of", "the", "an", "and", "to", "in"]
_PUNCT = list(".,?!'{}")
_LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789")
_SEED = 0


# -- sample rows ---------------------------------------------------------------------------

def _image(rng: np.random.Generator, height: int, width: int) -> list[Any]:
    """A JSON-able [H][W][3] image: a colour gradient with noise (not flat, not pure noise)."""
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1),
                     (xs + ys) * 255 // max(height + width - 2, 1)], axis=-1)
    noise = rng.integers(-30, 31, size=base.shape)
    return np.clip(base + noise, 0, 255).astype(np.int64).tolist()


def _audio(rng: np.random.Generator, seconds: float = 1.0) -> list[float]:
    t = np.arange(int(16000 * seconds)) / 16000
    wave = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.normal(size=t.shape)
    return [float(x) for x in wave.astype(np.float32)]


def rows(task: str) -> list[dict[str, Any]]:
    """Two JSON-able request rows for a Wallaroo HF task, with per-row keyword columns.

    Images have the default schema's size; generating tasks pass ``do_sample=False``,
    ``num_beams=1`` and a small ``max_new_tokens`` (extra columns that go to ``generate``).
    """
    rng = np.random.default_rng(7)
    short = task.removeprefix("hugging-face-")
    greedy = {"do_sample": False, "num_beams": 1, "max_new_tokens": 6}
    if short == "feature-extraction":
        return [{"inputs": "this is a test"}, {"inputs": "joey serves models on ray"}]
    if short in ("text-classification", "sentiment-analysis"):
        return [{"inputs": "this movie was very good", "top_k": 2},
                {"inputs": "it was bad", "top_k": 2, "function_to_apply": "sigmoid"}]
    if short == "zero-shot-classification":
        labels = ["english", "german"]
        return [{"inputs": "this is a test", "candidate_labels": labels,
                 "hypothesis_template": "This example is {}.", "multi_label": False},
                {"inputs": "this is another test", "candidate_labels": labels,
                 "hypothesis_template": "This example is {}.", "multi_label": True}]
    if short == "image-classification":
        return [{"inputs": _image(rng, 100, 100), "top_k": 2},
                {"inputs": _image(rng, 100, 100), "top_k": 2}]
    if short == "image-segmentation":
        return [{"inputs": _image(rng, 100, 100), "threshold": 0.1, "mask_threshold": 0.2},
                {"inputs": _image(rng, 100, 100), "threshold": 0.1, "mask_threshold": 0.2,
                 "overlap_mask_area_threshold": 0.5}]
    if short == "image-to-text":
        return [{"inputs": _image(rng, 100, 100), **greedy},
                {"inputs": _image(rng, 100, 100), **greedy, "max_new_tokens": 4}]
    if short == "object-detection":
        return [{"inputs": _image(rng, 100, 100), "threshold": 0.1},
                {"inputs": _image(rng, 100, 100), "threshold": 0.54}]
    if short == "question-answering":
        context = "joey serves models on ray. this is a test of the dog and the cat."
        return [{"question": "what does joey do?", "context": context},
                {"question": "what is this?", "context": context, "top_k": 2,
                 "max_answer_len": 5, "handle_impossible_answer": False}]
    if short == "stable-diffusion-text-2-img":
        common = {"height": 128, "width": 128, "num_inference_steps": 2, "guidance_scale": 7.5,
                  "num_images_per_prompt": "1"}
        return [{"prompt": "a photo of a cat", **common},
                {"prompt": "a dog", **common, "negative_prompt": "bird", "eta": 0.0}]
    if short == "summarization":
        return [{"inputs": "joey serves models on ray. this is a test.", "return_text": True,
                 "return_tensors": False, "clean_up_tokenization_spaces": False, **greedy},
                {"inputs": "the cat and the dog.", **greedy, "max_new_tokens": 4}]
    if short == "translation":
        return [{"inputs": "this is a test", "clean_up_tokenization_spaces": True, **greedy},
                {"inputs": "what does joey do?", **greedy, "max_new_tokens": 4}]
    if short == "text-generation":
        return [{"inputs": "this is a", **greedy},
                {"inputs": "joey serves", **greedy, "return_full_text": False}]
    if short == "zero-shot-image-classification":
        return [{"inputs": _image(rng, 100, 100), "candidate_labels": ["cat", "dog"]},
                {"inputs": _image(rng, 100, 100), "candidate_labels": ["cat", "dog"],
                 "hypothesis_template": "a photo of a {}."}]
    if short == "zero-shot-object-detection":
        return [{"images": _image(rng, 480, 640), "candidate_labels": ["cat", "dog", "bird"],
                 "threshold": 0.0},
                {"images": _image(rng, 480, 640), "candidate_labels": ["a cat", "a dog", "car"],
                 "threshold": 0.1}]
    if short == "automatic-speech-recognition":
        return [{"inputs": _audio(rng)}, {"inputs": _audio(rng, 0.5), "return_timestamps": "char"}]
    raise ValueError(f"no sample rows for {task!r}")


# -- tiny models ---------------------------------------------------------------------------

def _major() -> int:
    import transformers

    return int(transformers.__version__.split(".", 1)[0])


def _widen(model: Any) -> Any:
    """Redraw every weight matrix N(0, 0.25) with a fixed seed: clear winners, no ties."""
    import torch

    generator = torch.Generator().manual_seed(_SEED)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.25)
    return model.eval()


def _bert_vocab(*extra: str) -> list[str]:
    pieces = [f"##{c}" for c in _LETTERS]
    return list(dict.fromkeys(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *extra, *_WORDS,
                               *_LETTERS, *pieces, *_PUNCT]))


def _bert_tokenizer(tmp: Path, words: tuple[str, ...] = (), **kwargs: Any) -> Any:
    """A word-piece tokenizer from an in-memory vocabulary (5.x: ``vocab=``; 4.x: a file);
    ``words`` are appended to the vocabulary (the benchmark's model)."""
    extra = [v for k, v in kwargs.items() if k.endswith("_token")]
    vocab = _bert_vocab(*[e for e in extra if e not in _bert_vocab()])
    vocab += [w for w in words if w not in vocab]
    if _major() >= 5:
        from transformers import BertTokenizer

        return BertTokenizer(vocab={w: i for i, w in enumerate(vocab)}, **kwargs)
    from transformers import BertTokenizerFast

    path = tmp / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n")
    return BertTokenizerFast(vocab_file=str(path), **kwargs)


def _byte_chars() -> list[str]:
    """GPT-2's byte-to-unicode alphabet: 256 single-character tokens cover any text."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


_MERGES = [("t", "h"), ("th", "e"), ("Ġ", "t"), ("i", "s"), ("Ġ", "a")]


def _bpe_tokenizer(tmp: Path, kind: str, specials: list[str], **kwargs: Any) -> Any:
    """A byte-level BPE tokenizer (GPT-2 or RoBERTa/BART) with a few merges."""
    tokens = [*specials, *_byte_chars(), *("".join(m) for m in _MERGES)]
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    import transformers

    if _major() >= 5:
        cls = getattr(transformers, f"{kind}Tokenizer")
        return cls(vocab=vocab, merges=list(_MERGES), **kwargs)
    (tmp / "vocab.json").write_text(json.dumps(vocab))
    (tmp / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in _MERGES))
    cls = getattr(transformers, f"{kind}TokenizerFast")
    return cls(vocab_file=str(tmp / "vocab.json"), merges_file=str(tmp / "merges.txt"), **kwargs)


def _clip_tokenizer(tmp: Path, max_length: int) -> Any:
    """CLIP's tokenizer over characters: ``c`` and ``c</w>`` for each, no merges."""
    chars = [*_LETTERS, *_PUNCT]
    vocab = {t: i for i, t in enumerate([*chars, *(f"{c}</w>" for c in chars),
                                         "<|startoftext|>", "<|endoftext|>"])}
    import transformers

    if _major() >= 5:
        return transformers.CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)
    (tmp / "vocab.json").write_text(json.dumps(vocab))
    (tmp / "merges.txt").write_text("#version: 0.2\n")
    return transformers.CLIPTokenizerFast(vocab_file=str(tmp / "vocab.json"),
                                          merges_file=str(tmp / "merges.txt"),
                                          model_max_length=max_length)


def _tiny_bert(**extra: Any) -> dict[str, Any]:
    return {"vocab_size": len(_bert_vocab("[DEC]")), "hidden_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 4, "intermediate_size": 37, "max_position_embeddings": 128,
            **extra}


def _vision(**extra: Any) -> dict[str, Any]:
    return {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1,
            "num_attention_heads": 4, "image_size": 32, "patch_size": 8, **extra}


def _detr(segmentation: bool) -> Any:
    from transformers import DetrConfig, DetrForObjectDetection, DetrForSegmentation, ResNetConfig

    backbone = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1],
                            layer_type="basic", out_features=["stage1", "stage2", "stage3", "stage4"])
    config = DetrConfig(use_timm_backbone=False, backbone_config=backbone, backbone=None,
                        use_pretrained_backbone=False, d_model=32, encoder_layers=1,
                        decoder_layers=1, encoder_attention_heads=8, decoder_attention_heads=8,
                        encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=5,
                        id2label={0: "cat", 1: "dog"}, label2id={"cat": 0, "dog": 1})
    return (DetrForSegmentation if segmentation else DetrForObjectDetection)(config)


def _detr_processor(segmentation: bool) -> Any:
    from transformers import DetrImageProcessor

    return DetrImageProcessor(format="coco_panoptic" if segmentation else "coco_detection",
                              size={"shortest_edge": 128, "longest_edge": 128})


def _text_model(tmp: Path, task: str) -> dict[str, Any]:
    """Pipeline parts for the BERT-based text tasks."""
    import transformers as tf

    tokenizer = _bert_tokenizer(tmp)
    if task == "feature-extraction":
        model = tf.BertModel(tf.BertConfig(**_tiny_bert(hidden_size=128)))
    elif task == "zero-shot-classification":
        labels = ["entailment", "neutral", "contradiction"]
        model = tf.BertForSequenceClassification(tf.BertConfig(**_tiny_bert(
            id2label=dict(enumerate(labels)), label2id={k: i for i, k in enumerate(labels)})))
    elif task == "question-answering":
        model = tf.BertForQuestionAnswering(tf.BertConfig(**_tiny_bert()))
    else:
        model = tf.BertForSequenceClassification(tf.BertConfig(**_tiny_bert(
            id2label={0: "negative", 1: "positive"}, label2id={"negative": 0, "positive": 1})))
    return {"model": model, "tokenizer": tokenizer}


def _image_to_text(tmp: Path) -> dict[str, Any]:
    import transformers as tf

    tokenizer = _bert_tokenizer(tmp, bos_token="[DEC]")
    ids = tokenizer.convert_tokens_to_ids
    text = _tiny_bert(bos_token_id=ids("[DEC]"), sep_token_id=ids("[SEP]"), pad_token_id=0,
                      eos_token_id=ids("[SEP]"))
    text.pop("max_position_embeddings")
    config = tf.BlipConfig(text_config={**text, "max_position_embeddings": 64},
                           vision_config=_vision(), projection_dim=16)
    model = tf.BlipForConditionalGeneration(config)
    image_processor = tf.BlipImageProcessor(size={"height": 32, "width": 32})
    return {"model": model, "processor": tf.BlipProcessor(image_processor, tokenizer),
            "tokenizer": tokenizer, "image_processor": image_processor}


def _zero_shot_image(tmp: Path, detection: bool) -> dict[str, Any]:
    import transformers as tf

    tokenizer = _clip_tokenizer(tmp, 64)
    text = {"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 37,
            "num_hidden_layers": 1, "num_attention_heads": 4, "max_position_embeddings": 64,
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id}
    if detection:
        config = tf.OwlViTConfig(text_config=text, vision_config=_vision(), projection_dim=32)
        processor = tf.OwlViTImageProcessor(size={"height": 32, "width": 32},
                                            crop_size={"height": 32, "width": 32})
        return {"model": tf.OwlViTForObjectDetection(config), "tokenizer": tokenizer,
                "image_processor": processor}
    config = tf.CLIPConfig(text_config=text, vision_config=_vision(), projection_dim=16)
    processor = tf.CLIPImageProcessor(size={"shortest_edge": 32},
                                      crop_size={"height": 32, "width": 32})
    return {"model": tf.CLIPModel(config), "tokenizer": tokenizer, "image_processor": processor}


def _speech(tmp: Path) -> dict[str, Any]:
    import transformers as tf

    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", "|", *_LETTERS[:26], "'"])}
    (tmp / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = tf.Wav2Vec2CTCTokenizer(str(tmp / "vocab.json"), word_delimiter_token="|",
                                        bos_token=None, eos_token=None)
    config = tf.Wav2Vec2Config(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1,
                               num_attention_heads=4, intermediate_size=37,
                               conv_dim=(16, 16, 16, 16), conv_stride=(5, 4, 4, 4),
                               conv_kernel=(10, 8, 4, 4), num_conv_pos_embeddings=16,
                               num_conv_pos_embedding_groups=4, pad_token_id=0,
                               ctc_loss_reduction="mean")
    extractor = tf.Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True,
                                            return_attention_mask=False)
    return {"model": tf.Wav2Vec2ForCTC(config), "tokenizer": tokenizer,
            "feature_extractor": extractor}


def _seq2seq(tmp: Path) -> dict[str, Any]:
    import transformers as tf

    tokenizer = _bpe_tokenizer(tmp, "Roberta", ["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    config = tf.BartConfig(vocab_size=len(tokenizer), d_model=32, encoder_layers=1,
                           decoder_layers=1, encoder_attention_heads=4, decoder_attention_heads=4,
                           encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=128,
                           bos_token_id=0, pad_token_id=1, eos_token_id=2,
                           decoder_start_token_id=2, forced_bos_token_id=None,
                           forced_eos_token_id=None)
    return {"model": tf.BartForConditionalGeneration(config), "tokenizer": tokenizer}


def _causal(tmp: Path) -> dict[str, Any]:
    import transformers as tf

    tokenizer = _bpe_tokenizer(tmp, "GPT2", ["<|endoftext|>"])
    config = tf.GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4,
                           n_positions=128, bos_token_id=0, eos_token_id=0)
    return {"model": tf.GPT2LMHeadModel(config), "tokenizer": tokenizer}


def _stable_diffusion(tmp: Path, folder: Path) -> None:
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(_SEED)
    tokenizer = _clip_tokenizer(tmp, 77)
    unet = UNet2DConditionModel(sample_size=64, in_channels=4, out_channels=4,
                                block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
                                down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
                                cross_attention_dim=32, attention_head_dim=4)
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(8, 16),
                        down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4,
                        norm_num_groups=4, sample_size=128)
    text = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=1,
        num_attention_heads=4, max_position_embeddings=77, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id))
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(folder))


_PARTS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "feature-extraction": lambda tmp: _text_model(tmp, "feature-extraction"),
    "text-classification": lambda tmp: _text_model(tmp, "text-classification"),
    "sentiment-analysis": lambda tmp: _text_model(tmp, "text-classification"),
    "zero-shot-classification": lambda tmp: _text_model(tmp, "zero-shot-classification"),
    "question-answering": lambda tmp: _text_model(tmp, "question-answering"),
    "image-classification": lambda _tmp: _vit(),
    "image-segmentation": lambda _tmp: {"model": _detr(True),
                                        "image_processor": _detr_processor(True)},
    "object-detection": lambda _tmp: {"model": _detr(False),
                                      "image_processor": _detr_processor(False)},
    "image-to-text": _image_to_text,
    "zero-shot-image-classification": lambda tmp: _zero_shot_image(tmp, False),
    "zero-shot-object-detection": lambda tmp: _zero_shot_image(tmp, True),
    "automatic-speech-recognition": _speech,
    "summarization": _seq2seq,
    "translation": _seq2seq,
    "text-generation": _causal,
}


def bench_words(count: int = 400) -> list[str]:
    """The benchmark model's extra vocabulary: ``count`` made-up lower-case words, fixed."""
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    words = [f"{a}{v}{b}{w}" for a in consonants for v in vowels for b in consonants[:6]
             for w in vowels[:2]]
    return words[:count]


def _minilm_classifier(tmp: Path) -> dict[str, Any]:
    """A text classifier of MiniLM's size with random weights (BERT: hidden 384, 6 layers,
    12 heads, intermediate 1536, 128 positions, a vocabulary of ~500 word pieces, 2 labels):
    the benchmark's model, big enough that the model's own time dominates a request."""
    import transformers as tf

    tokenizer = _bert_tokenizer(tmp, words=tuple(bench_words()))
    config = tf.BertConfig(vocab_size=len(tokenizer), hidden_size=384, num_hidden_layers=6,
                           num_attention_heads=12, intermediate_size=1536,
                           max_position_embeddings=128, num_labels=2,
                           id2label={0: "negative", 1: "positive"},
                           label2id={"negative": 0, "positive": 1})
    return {"model": tf.BertForSequenceClassification(config), "tokenizer": tokenizer}


_VARIANTS: dict[str, tuple[str, Callable[[Path], dict[str, Any]]]] = {
    "text-classification-minilm": ("text-classification", _minilm_classifier),
}
"""Models of other sizes, built by name (``build OUT_DIR text-classification-minilm``):
{name: (pipeline task, parts)}; uploaded as that task's framework."""


def _vit() -> dict[str, Any]:
    import transformers as tf

    config = tf.ViTConfig(**_vision(id2label={0: "cat", 1: "dog"}, label2id={"cat": 0, "dog": 1}))
    return {"model": tf.ViTForImageClassification(config),
            "image_processor": tf.ViTImageProcessor(size={"height": 32, "width": 32})}


def _short(task: str) -> str:
    return task.removeprefix("hugging-face-")


def _save(task: str, folder: Path, tmp: Path) -> None:
    """The tiny model of ``task`` written to ``folder`` as its pipeline would save it."""
    import torch

    short = _short(task)
    if short == "stable-diffusion-text-2-img":
        _stable_diffusion(tmp, folder)
        return
    torch.manual_seed(_SEED)
    pipeline_task = short
    if short in _VARIANTS:
        pipeline_task, make = _VARIANTS[short]
        parts = make(tmp)
    else:
        parts = _PARTS[short](tmp)
    _widen(parts["model"])
    for name, module in parts["model"].named_modules():
        if name.endswith("class_labels_classifier"):  # DETR: let "no object" lose, or none shows
            with torch.no_grad():
                module.bias[-1] = -4.0
    if _major() >= 5 and short in ("summarization", "translation", "question-answering",
                                   "image-to-text"):
        for part in parts.values():  # no such pipeline in 5.x (image-to-text: none that saves it)
            part.save_pretrained(str(folder))
        return
    from transformers import pipeline

    pipeline(pipeline_task, **parts).save_pretrained(str(folder))


def _zip(folder: Path, target: Path, with_folder: bool) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                name = path.relative_to(folder.parent if with_folder else folder)
                archive.write(path, str(name))
    return target


def flat_zip(model_zip: Path) -> Path:
    """The variant of a built zip whose ``config.json`` sits at the zip's root."""
    return model_zip.with_name(model_zip.stem + "-flat.zip")


def build(out_dir: Path, tasks: list[str]) -> dict[str, str]:
    """Build each task's tiny model under ``out_dir``: {task: path of the zip with folder}."""
    from joey.runtimes.hf_tasks import HF_TASKS

    out_dir.mkdir(parents=True, exist_ok=True)
    built: dict[str, str] = {}
    for task in (list(HF_TASKS) if tasks == ["all"] else tasks):
        folder = out_dir / _short(task)
        shutil.rmtree(folder, ignore_errors=True)
        with tempfile.TemporaryDirectory() as tmp:
            _save(task, folder, Path(tmp))
        target = _zip(folder, out_dir / f"{folder.name}.zip", with_folder=True)
        _zip(folder, flat_zip(target), with_folder=False)
        built[task] = str(target)
    return built


# -- reference outputs ---------------------------------------------------------------------

def _pil(value: Any) -> Any:
    from PIL import Image

    return Image.fromarray(np.asarray(value, dtype=np.uint8))


def _boxes(answer: list[dict[str, Any]]) -> dict[str, Any]:
    return {"score": [float(a["score"]) for a in answer], "label": [a["label"] for a in answer],
            "box": [[int(a["box"][k]) for k in ("xmin", "ymin", "xmax", "ymax")] for a in answer]}


def _reference_row(pipe: Any, short: str, row: dict[str, Any], major: int) -> dict[str, Any]:
    """One row through the plain pipeline, its answer in the output schema's shape."""
    import torch

    row = dict(row)
    if short == "stable-diffusion-text-2-img":
        count = int(row.pop("num_images_per_prompt", "1"))
        images = pipe(row.pop("prompt"), num_images_per_prompt=count, output_type="np",
                      generator=torch.Generator("cpu").manual_seed(0), **row).images
        return {"images": np.rint(np.asarray(images[0]) * 255).astype(np.int64).tolist()}
    if short == "question-answering":
        best = pipe(question=row.pop("question"), context=row.pop("context"), **row)
        best = best[0] if isinstance(best, list) else best
        return {k: best[k] for k in ("score", "start", "end", "answer")}
    if short == "zero-shot-object-detection":
        return _boxes(pipe(_pil(row.pop("images")), **row))
    value = row.pop("inputs")
    if short == "automatic-speech-recognition":
        answer = pipe(np.asarray(value, dtype=np.float32), **row)
        return {"text": answer["text"],
                "chunks": [{"text": c["text"], "timestamp": [float(t) for t in c["timestamp"]]}
                           for c in answer.get("chunks", [])]}
    if short in ("image-classification", "image-segmentation", "image-to-text",
                 "object-detection", "zero-shot-image-classification"):
        value = _pil(value)
    if short == "image-to-text":
        answer = (pipe(images=value, text="", generate_kwargs=row) if major >= 5
                  else pipe(value, generate_kwargs=row))
        return {"generated_text": [a["generated_text"] for a in answer]}
    answer = pipe(value, **row)
    if short == "feature-extraction":
        return {"output": answer[0]}
    if short in ("text-classification", "sentiment-analysis", "image-classification",
                 "zero-shot-image-classification"):
        return {"label": [a["label"] for a in answer], "score": [a["score"] for a in answer]}
    if short == "zero-shot-classification":
        return {k: answer[k] for k in ("sequence", "scores", "labels")}
    if short == "image-segmentation":
        return {"score": [a["score"] for a in answer], "label": [a["label"] for a in answer],
                "mask": [np.asarray(a["mask"], dtype=np.int64).tolist() for a in answer]}
    if short == "object-detection":
        return _boxes(answer)
    if short in ("summarization", "translation"):
        key = "summary_text" if short == "summarization" else "translation_text"
        return {key: answer[0][key]}
    if short == "text-generation":
        return {"generated_text": [a["generated_text"] for a in answer]}
    raise ValueError(f"no reference rule for {short}")


def reference(model_zip: Path, task: str, request: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's expected answer from the library's own pipeline, called directly."""
    import os

    from joey.runtimes.archive import unpack
    from joey.runtimes.hf_tasks import find_model_dir

    os.environ["HF_HUB_OFFLINE"] = "1"  # noqa: TID251 - tiny local models only
    os.environ["TRANSFORMERS_OFFLINE"] = "1"  # noqa: TID251
    model_dir = str(find_model_dir(unpack(model_zip)))
    short = _short(task)
    major = _major()
    if short == "stable-diffusion-text-2-img":
        from diffusers import DiffusionPipeline

        pipe = DiffusionPipeline.from_pretrained(model_dir)
    else:
        from transformers import pipeline

        name = "image-text-to-text" if short == "image-to-text" and major >= 5 else short
        pipe = pipeline(name, model=model_dir)
    return [_reference_row(pipe, short, row, major) for row in request]


def main(argv: list[str]) -> int:
    if len(argv) >= 3 and argv[0] == "build":
        print(json.dumps(build(Path(argv[1]), argv[2:])))
        return 0
    if len(argv) == 4 and argv[0] == "reference":
        text = argv[3]
        request = json.loads(Path(text).read_text() if Path(text).is_file() else text)
        print(json.dumps(reference(Path(argv[1]), argv[2], request)))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
