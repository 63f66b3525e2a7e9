"""Random-weight demo models that mirror the real registry models file for file.

A demo model has the architecture, ``config.json``, ``generation_config.json`` and tokenizer
files of the real checkpoint it imitates, so it goes through exactly the same
``from_pretrained`` loading and generation code. Only the weights are random (and the
tokenizers are trained on a small bundled corpus), so the output text is meaningless.

Two details differ from a plain random init, both confined to the weights:

* the vocabulary is padded with ``<demo_N>`` filler tokens up to the real vocabulary size (so
  token ids keep the real layout), and ``final_logits_bias`` suppresses those fillers so that
  generated text consists of real tokenizer pieces rather than filler names or ``<unk>`` marks;
* weights are drawn from N(0, init_std) like the models' own ``_init_weights`` would, but with
  one seeded generator per tensor and in parallel, which is several times faster at full size.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

# torch, transformers, sentencepiece and tokenizers are imported where they are used, so that
# importing this module (for is_demo_model, say) stays cheap.
if TYPE_CHECKING:
    import torch
    from torch import nn
    from transformers import PreTrainedConfig, PreTrainedModel

__all__ = ["DEMO_MARKER", "is_demo_model", "make_demo_model"]

logger = logging.getLogger(__name__)

DEMO_MARKER = "newsmt-demo.json"
_CREATED_BY = "newsmt models make-demo"
_CORPUS_DIR = Path(__file__).with_name("demo_corpus")

Size = Literal["full", "tiny"]
JsonDict = dict[str, Any]

# Logit bias that keeps filler tokens out of generated text (finite, so fp16 stays safe).
_SUPPRESSED_LOGIT = -100.0


@dataclass(frozen=True)
class _Dims:
    """Transformer dimensions of one model size."""

    d_model: int
    encoder_layers: int
    decoder_layers: int
    attention_heads: int
    ffn_dim: int


# --------------------------------------------------------------------------------------------
# Marian (Helsinki-NLP/opus-mt-*)
# --------------------------------------------------------------------------------------------

_MARIAN_DIMS: dict[Size, _Dims] = {
    "full": _Dims(d_model=512, encoder_layers=6, decoder_layers=6, attention_heads=8, ffn_dim=2048),
    "tiny": _Dims(d_model=16, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=32),
}
# Real joint vocabulary sizes, keyed by the unordered language pair.
_MARIAN_FULL_VOCAB: dict[frozenset[str], int] = {
    frozenset({"en", "ru"}): 62518,
    frozenset({"en", "es"}): 65001,
}
_MARIAN_TINY_VOCAB = 2048
_MARIAN_MAX_POSITIONS = 512
_MARIAN_EOS, _MARIAN_UNK = "</s>", "<unk>"
_MARIAN_PAD = "<pad>"
_OPUS_MT_REPO = re.compile(r"(?:^|/)opus-mt-([a-z]{2,3})-([a-z]{2,3})$")
# Upper bound only: with hard_vocab_limit=False the trainer keeps what the corpus supports.
_SPM_VOCAB_TARGET = 8000

# --------------------------------------------------------------------------------------------
# BART (sshleifer/distilbart-cnn-12-6)
# --------------------------------------------------------------------------------------------

_BART_MIRRORS = frozenset({"sshleifer/distilbart-cnn-12-6"})
_BART_DIMS: dict[Size, _Dims] = {
    "full": _Dims(
        d_model=1024, encoder_layers=12, decoder_layers=6, attention_heads=16, ffn_dim=4096
    ),
    "tiny": _Dims(d_model=16, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=32),
}
# Embedding rows. As in the real checkpoint, the tokenizer has one more entry: "<mask>" sits at
# id == vocab_size, outside the embedding matrix.
_BART_VOCAB: dict[Size, int] = {"full": 50264, "tiny": 1024}
_BART_MAX_POSITIONS = 1024
_BART_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
_BART_MASK = "<mask>"
_BPE_VOCAB_TARGET = 4000
_BART_SUMMARY_PARAMS: JsonDict = {
    "early_stopping": True,
    "length_penalty": 2.0,
    "max_length": 142,
    "min_length": 56,
    "no_repeat_ngram_size": 3,
    "num_beams": 4,
}


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def make_demo_model(
    architecture: Literal["marian", "bart"],
    out_dir: Path,
    *,
    mirrors: str,
    source_language: str | None = None,
    target_language: str | None = None,
    size: Literal["full", "tiny"] = "full",
    seed: int = 0,
) -> Path:
    """Build a random-weight model imitating ``mirrors`` into ``out_dir`` and return ``out_dir``.

    The model is assembled in a sibling temporary directory and moved into place at the end, so
    ``out_dir`` never holds a half-written model; an existing ``out_dir`` is replaced.

    Raises:
        ValueError: unknown architecture or size, a ``mirrors`` repo this module cannot imitate,
            or languages that contradict ``mirrors`` or lack a bundled corpus.
    """
    if size not in ("full", "tiny"):
        raise ValueError(f"size must be 'full' or 'tiny', not {size!r}")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    marker: JsonDict = {
        "demo": True,
        "mirrors": mirrors,
        "architecture": architecture,
        "size": size,
        "seed": seed,
        "source_language": source_language,
        "target_language": target_language,
        "created_by": _CREATED_BY,
    }
    build: Callable[[Path], None]
    if architecture == "marian":
        source, target = _resolve_marian_languages(mirrors, source_language, target_language)
        marker.update(source_language=source, target_language=target)
        vocab_size = _marian_vocab_size(source, target, size)

        def build(model_dir: Path) -> None:
            _build_marian(model_dir, source, target, vocab_size, _MARIAN_DIMS[size], seed)

    elif architecture == "bart":
        if mirrors not in _BART_MIRRORS:
            raise ValueError(f"no BART demo for {mirrors!r}; known: {sorted(_BART_MIRRORS)}")

        def build(model_dir: Path) -> None:
            _build_bart(model_dir, _BART_VOCAB[size], _BART_DIMS[size], seed)

    else:
        raise ValueError(f"architecture must be 'marian' or 'bart', not {architecture!r}")

    with _staging_dir(out_dir) as staging:
        build(staging)
        _write_json(staging / DEMO_MARKER, marker)
        _share_like_dir(staging)
        _move_into_place(staging, out_dir)
    logger.info(
        "built %s demo model mirroring %s in %s (%.1f s)",
        size,
        mirrors,
        out_dir,
        time.perf_counter() - started,
    )
    return out_dir


def is_demo_model(model_dir: Path) -> bool:
    """True iff ``model_dir`` holds the demo marker written by :func:`make_demo_model`."""
    return (Path(model_dir) / DEMO_MARKER).is_file()


# --------------------------------------------------------------------------------------------
# Marian
# --------------------------------------------------------------------------------------------


def _resolve_marian_languages(
    mirrors: str, source_language: str | None, target_language: str | None
) -> tuple[str, str]:
    """Languages from the opus-mt repo name, checked against any explicitly given ones."""
    match = _OPUS_MT_REPO.search(mirrors)
    if match is None:
        raise ValueError(f"{mirrors!r} is not a Helsinki-NLP/opus-mt-<src>-<tgt> repo id")
    source, target = match.groups()
    for given, derived in ((source_language, source), (target_language, target)):
        if given is not None and given != derived:
            raise ValueError(f"language {given!r} contradicts {mirrors!r}")
    for language in (source, target):
        if not (_CORPUS_DIR / f"{language}.txt").is_file():
            raise ValueError(f"no demo corpus for language {language!r}")
    return source, target


def _marian_vocab_size(source: str, target: str, size: Size) -> int:
    if size == "tiny":
        return _MARIAN_TINY_VOCAB
    try:
        return _MARIAN_FULL_VOCAB[frozenset({source, target})]
    except KeyError:
        raise ValueError(f"no full-size Marian vocab size known for {source}-{target}") from None


def _build_marian(
    model_dir: Path, source: str, target: str, vocab_size: int, dims: _Dims, seed: int
) -> None:
    from transformers import MarianConfig, MarianMTModel

    source_spm, target_spm = _train_spm(source), _train_spm(target)
    vocab = _marian_vocab([source_spm, target_spm], vocab_size)
    config = _marian_config(dims, vocab_size)
    model = _random_model(MarianMTModel, MarianConfig.from_dict(config), seed)
    _suppress_fillers(model, vocab)
    model.save_pretrained(model_dir)
    # Written after save_pretrained, which emits transformers-5 style versions of these two.
    _write_json(model_dir / "config.json", config)
    _write_json(model_dir / "generation_config.json", _marian_generation_config(vocab_size - 1))
    (model_dir / "source.spm").write_bytes(source_spm)
    (model_dir / "target.spm").write_bytes(target_spm)
    _write_json(model_dir / "vocab.json", vocab)
    _write_json(model_dir / "tokenizer_config.json", _marian_tokenizer_config(source, target))
    _write_json(
        model_dir / "special_tokens_map.json",
        {"eos_token": _MARIAN_EOS, "unk_token": _MARIAN_UNK, "pad_token": _MARIAN_PAD},
    )


def _train_spm(language: str) -> bytes:
    """A SentencePiece unigram model of the bundled corpus for ``language``, as file bytes."""
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_corpus_lines(language)),
        model_writer=model,
        model_type="unigram",
        vocab_size=_SPM_VOCAB_TARGET,
        hard_vocab_limit=False,
        character_coverage=1.0,
        num_threads=1,  # single-threaded training is bit-for-bit reproducible
        minloglevel=2,
    )
    return model.getvalue()


def _marian_vocab(spm_models: list[bytes], vocab_size: int) -> dict[str, int]:
    """Joint vocab: ``</s>``, ``<unk>``, the union of the spm pieces, fillers, ``<pad>`` last."""
    import sentencepiece

    pieces = [_MARIAN_EOS, _MARIAN_UNK]
    seen = set(pieces)
    for model in spm_models:
        processor = sentencepiece.SentencePieceProcessor(model_proto=model)
        for piece_id in range(processor.get_piece_size()):
            piece = processor.id_to_piece(piece_id)
            if processor.is_control(piece_id) or processor.is_unknown(piece_id) or piece in seen:
                continue
            pieces.append(piece)
            seen.add(piece)
    return _pad_vocab(pieces, vocab_size - 1) | {_MARIAN_PAD: vocab_size - 1}


def _marian_config(dims: _Dims, vocab_size: int) -> JsonDict:
    """``config.json`` laid out like Helsinki-NLP/opus-mt-en-ru's."""
    pad_id = vocab_size - 1
    return {
        "activation_dropout": 0.0,
        "activation_function": "swish",
        "add_bias_logits": False,
        "add_final_layer_norm": False,
        "architectures": ["MarianMTModel"],
        "attention_dropout": 0.0,
        "bad_words_ids": [[pad_id]],
        "bos_token_id": 0,
        "classif_dropout": 0.0,
        "classifier_dropout": 0.0,
        "d_model": dims.d_model,
        "decoder_attention_heads": dims.attention_heads,
        "decoder_ffn_dim": dims.ffn_dim,
        "decoder_layerdrop": 0.0,
        "decoder_layers": dims.decoder_layers,
        "decoder_start_token_id": pad_id,
        "decoder_vocab_size": vocab_size,
        "dropout": 0.1,
        "encoder_attention_heads": dims.attention_heads,
        "encoder_ffn_dim": dims.ffn_dim,
        "encoder_layerdrop": 0.0,
        "encoder_layers": dims.encoder_layers,
        "eos_token_id": 0,
        "forced_eos_token_id": 0,
        "init_std": 0.02,
        "is_encoder_decoder": True,
        "max_length": _MARIAN_MAX_POSITIONS,
        "max_position_embeddings": _MARIAN_MAX_POSITIONS,
        "model_type": "marian",
        "normalize_before": False,
        "normalize_embedding": False,
        "num_beams": 4,
        "num_hidden_layers": dims.encoder_layers,
        "pad_token_id": pad_id,
        "scale_embedding": True,
        "share_encoder_decoder_embeddings": True,
        "static_position_embeddings": True,
        "use_cache": True,
        "vocab_size": vocab_size,
    }


def _marian_generation_config(pad_id: int) -> JsonDict:
    return {
        "bad_words_ids": [[pad_id]],
        "bos_token_id": 0,
        "decoder_start_token_id": pad_id,
        "eos_token_id": 0,
        "forced_eos_token_id": 0,
        "max_length": _MARIAN_MAX_POSITIONS,
        "num_beams": 4,
        "pad_token_id": pad_id,
    }


def _marian_tokenizer_config(source: str, target: str) -> JsonDict:
    return {
        "eos_token": _MARIAN_EOS,
        "model_max_length": _MARIAN_MAX_POSITIONS,
        "pad_token": _MARIAN_PAD,
        "separate_vocabs": False,
        "source_lang": source,
        "sp_model_kwargs": {},
        "target_lang": target,
        "tokenizer_class": "MarianTokenizer",
        "unk_token": _MARIAN_UNK,
    }


# --------------------------------------------------------------------------------------------
# BART
# --------------------------------------------------------------------------------------------


def _build_bart(model_dir: Path, vocab_size: int, dims: _Dims, seed: int) -> None:
    from transformers import BartConfig, BartForConditionalGeneration

    tokens, merges = _train_bpe()
    vocab = _pad_vocab(tokens, vocab_size) | {_BART_MASK: vocab_size}
    config = _bart_config(dims, vocab_size)
    model = _random_model(BartForConditionalGeneration, BartConfig.from_dict(config), seed)
    _suppress_fillers(model, vocab)
    model.save_pretrained(model_dir)
    # Written after save_pretrained, which emits transformers-5 style versions of these two.
    _write_json(model_dir / "config.json", config)
    _write_json(model_dir / "generation_config.json", _bart_generation_config())
    _write_json(model_dir / "vocab.json", vocab)
    (model_dir / "merges.txt").write_text(merges, encoding="utf-8")
    _write_json(model_dir / "tokenizer_config.json", {"model_max_length": _BART_MAX_POSITIONS})
    _write_json(model_dir / "special_tokens_map.json", _bart_special_tokens_map())


def _train_bpe() -> tuple[list[str], str]:
    """A GPT-2 style byte-level BPE of the English corpus: (tokens in id order, merges.txt)."""
    from tokenizers import ByteLevelBPETokenizer

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(
        _corpus_lines("en"),
        vocab_size=_BPE_VOCAB_TARGET,
        min_frequency=2,
        special_tokens=list(_BART_SPECIALS),
        show_progress=False,
    )
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file, merges_file = tokenizer.save_model(scratch)
        vocab: dict[str, int] = json.loads(Path(vocab_file).read_text(encoding="utf-8"))
        merges = Path(merges_file).read_text(encoding="utf-8")
    return sorted(vocab, key=vocab.__getitem__), merges


def _bart_config(dims: _Dims, vocab_size: int) -> JsonDict:
    """``config.json`` laid out like sshleifer/distilbart-cnn-12-6's, legacy keys included."""
    return {
        "_num_labels": 3,
        "activation_dropout": 0.0,
        "activation_function": "gelu",
        "add_bias_logits": False,
        "add_final_layer_norm": False,
        "architectures": ["BartForConditionalGeneration"],
        "attention_dropout": 0.0,
        "bos_token_id": 0,
        "classif_dropout": 0.0,
        "d_model": dims.d_model,
        "decoder_attention_heads": dims.attention_heads,
        "decoder_ffn_dim": dims.ffn_dim,
        "decoder_layerdrop": 0.0,
        "decoder_layers": dims.decoder_layers,
        "decoder_start_token_id": 2,
        "dropout": 0.1,
        "encoder_attention_heads": dims.attention_heads,
        "encoder_ffn_dim": dims.ffn_dim,
        "encoder_layerdrop": 0.0,
        "encoder_layers": dims.encoder_layers,
        "eos_token_id": 2,
        "extra_pos_embeddings": 2,
        "force_bos_token_to_be_generated": True,
        "forced_bos_token_id": 0,
        "forced_eos_token_id": 2,
        "id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"},
        "init_std": 0.02,
        "is_encoder_decoder": True,
        "label2id": {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2},
        "max_position_embeddings": _BART_MAX_POSITIONS,
        "model_type": "bart",
        "normalize_before": False,
        "normalize_embedding": True,
        "num_hidden_layers": dims.encoder_layers,
        "output_past": True,
        "pad_token_id": 1,
        "prefix": " ",
        "scale_embedding": False,
        "static_position_embeddings": False,
        "task_specific_params": {"summarization": dict(_BART_SUMMARY_PARAMS)},
        "use_cache": True,
        "vocab_size": vocab_size,
        **_BART_SUMMARY_PARAMS,
    }


def _bart_generation_config() -> JsonDict:
    return {
        "bos_token_id": 0,
        "decoder_start_token_id": 2,
        "eos_token_id": 2,
        "forced_bos_token_id": 0,
        "forced_eos_token_id": 2,
        "pad_token_id": 1,
        **_BART_SUMMARY_PARAMS,
    }


def _bart_special_tokens_map() -> JsonDict:
    bos, pad, eos, unk = _BART_SPECIALS
    mask = {"content": _BART_MASK, "lstrip": True, "normalized": False, "rstrip": False}
    return {
        "bos_token": bos,
        "cls_token": bos,
        "eos_token": eos,
        "mask_token": mask | {"single_word": False},
        "pad_token": pad,
        "sep_token": eos,
        "unk_token": unk,
    }


# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------


def _corpus_lines(language: str) -> list[str]:
    text = (_CORPUS_DIR / f"{language}.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]


def _pad_vocab(tokens: list[str], size: int) -> dict[str, int]:
    """``tokens`` at ids 0.., then ``<demo_ID>`` fillers so the vocab has exactly ``size`` ids."""
    if len(tokens) > size:
        raise ValueError(f"trained vocabulary has {len(tokens)} tokens, more than {size}")
    fillers = [f"<demo_{token_id}>" for token_id in range(len(tokens), size)]
    logger.debug("vocabulary: %d trained tokens, %d fillers", len(tokens), len(fillers))
    return {token: token_id for token_id, token in enumerate(tokens + fillers)}


def _random_model(
    model_class: type[PreTrainedModel], config: PreTrainedConfig, seed: int
) -> PreTrainedModel:
    """An untrained model whose saved weights are a pure function of ``config`` and ``seed``."""
    from transformers.initialization import no_init_weights

    with no_init_weights():  # skip the constructors' init: _randomize overwrites all of it
        model = model_class(config)
    model.tie_weights()
    _randomize(model, std=config.init_std, seed=seed)
    return model


def _randomize(model: nn.Module, *, std: float, seed: int) -> None:
    """Initialize like BART's and Marian's ``_init_weights``, but fast and thread-parallel.

    Linear and embedding matrices get N(0, std), biases 0, LayerNorms (1, 0). Every matrix has
    its own generator, seeded from ``seed`` and its position in the model, so the result does
    not depend on thread scheduling. Frozen tables (Marian's sinusoidal positions) are left
    alone: they are not saved, and ``from_pretrained`` recomputes them.
    """
    import torch
    from torch import nn

    matrices: dict[int, torch.Tensor] = {}
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear | nn.Embedding) and module.weight.requires_grad:
                matrices.setdefault(id(module.weight), module.weight)  # tied weights once
                if isinstance(module, nn.Linear) and module.bias is not None:
                    nn.init.zeros_(module.bias)
    seeds = torch.randint(2**62, (len(matrices),), generator=torch.Generator().manual_seed(seed))
    jobs = sorted(
        zip(matrices.values(), seeds.tolist(), strict=True), key=lambda job: -job[0].numel()
    )

    def fill(job: tuple[torch.Tensor, int]) -> None:
        matrix, matrix_seed = job
        with torch.no_grad():
            matrix.normal_(0.0, std, generator=torch.Generator().manual_seed(matrix_seed))

    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(fill, jobs))


def _suppress_fillers(model: PreTrainedModel, vocab: dict[str, int]) -> None:
    """Bias filler-token logits down so that generation only emits trained pieces."""
    import torch

    bias = model.get_buffer("final_logits_bias")
    filler_ids = [token_id for token, token_id in vocab.items() if token.startswith("<demo_")]
    with torch.no_grad():
        bias[0, filler_ids] = _SUPPRESSED_LOGIT


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


@contextmanager
def _staging_dir(out_dir: Path) -> Iterator[Path]:
    """A fresh directory next to ``out_dir`` (same filesystem), removed unless moved away."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(out_dir, "building")
    staging.mkdir()
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _sibling(out_dir: Path, purpose: str) -> Path:
    return out_dir.with_name(f".{out_dir.name}.{purpose}-{uuid.uuid4().hex[:12]}")


def _share_like_dir(directory: Path) -> None:
    """Give every file the umask-derived mode of ``directory``, minus the execute bits.

    safetensors writes its file with mode 0600, which a server running as another user
    could not read.
    """
    file_mode = directory.stat().st_mode & 0o666
    for path in directory.iterdir():
        path.chmod(file_mode)


def _move_into_place(staging: Path, out_dir: Path) -> None:
    """Rename ``staging`` to ``out_dir``, replacing (then deleting) any existing ``out_dir``."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    retired = _sibling(out_dir, "old")
    out_dir.rename(retired)
    staging.rename(out_dir)
    shutil.rmtree(retired, ignore_errors=True)
