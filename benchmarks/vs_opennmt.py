"""rnncli against OpenNMT-py 3.0.4 on Tatoeba eng->fra: same split, same minutes, one core each.

    python benchmarks/vs_opennmt.py [--minutes 30] [--work benchmarks/work/vs-opennmt]
                                    [--set training.KEY=VALUE ...]

1. The split: recipes/eng-fra.yaml's data section read by rnncli's own code (sentences of
   at most 12 words a side, duplicates dropped, 1,000 valid and 2,000 test pairs held out
   by source sentence, so no test English sentence occurs in training), written as TSV
   files that both tools read.
2. One shared joint BPE of 8k: rnncli's subword tokenizer trained on the training pairs
   (the one rnncli learns from the same file in its run) segments the files OpenNMT-py
   reads and joins its output back into text.
3. The peer gets a venv of its own under --work: torch==2.13.0 first, then
   OpenNMT-py==3.0.4 with torch held by the constraint. It is never a dependency of rnncli.
4. Both train at once, each pinned to its own core (taskset) with one thread, and are
   stopped at the same wall time, --minutes after their common start: rnncli by SIGINT
   (it saves and exits; its best checkpoint on validation is used), OpenNMT-py by SIGTERM
   (its last checkpoint, saved every 250 steps, is used). The peer has the models' shared
   sizes (bi-GRU encoder 2 x 128, GRU decoder 256, 256-d shared and tied embeddings,
   dropout 0.2, Adam 2e-3, label smoothing 0.1, batch 64 sentences) and its own defaults
   for everything else (general attention, input feeding, initialisation, no bridge).
5. Both translate the test sources with beam 5, one core each; sacrebleu's BLEU and chrF
   of the detokenised output against the references are printed side by side.

Needs 2 free cores, --minutes + about 8 minutes, and pip access to a package index.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "eng-fra.yaml"
PEER = "OpenNMT-py==3.0.4"
TORCH = "torch==2.13.0"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def make_split(work: Path) -> dict[str, list[tuple[str, str]]]:
    from rnncli.config import load_recipe
    from rnncli.tasks.translate import task as tr

    recipe = load_recipe(RECIPE, ["data.split=by_source"])
    train, valid, test = tr.splits(recipe.data, recipe.data.split_seed)  # type: ignore[arg-type]
    sets = {"train": train, "valid": valid, "test": test}
    for name, pairs in sets.items():
        with open(work / f"{name}.tsv", "w", encoding="utf-8") as handle:
            handle.writelines(f"{s}\t{t}\n" for s, t in pairs)
    overlap = {s for s, _ in test} & {s for s, _ in train}
    log(
        f"split: {len(train):,} train, {len(valid):,} valid, {len(test):,} test pairs; "
        f"test sources in train: {len(overlap)}"
    )
    return sets


def segment(work: Path, sets: dict[str, list[tuple[str, str]]]) -> object:
    """The joint BPE rnncli learns from these training pairs (its own make_state, as the
    recipe says), applied to the peer's files."""
    from rnncli.config import load_recipe
    from rnncli.data.vocab import Tokenizer
    from rnncli.tasks.translate import task as tr

    recipe = load_recipe(RECIPE)
    state = tr.make_state(recipe.data, sets["train"])  # type: ignore[arg-type]
    bpe = Tokenizer.from_json(state["source"]["tokenizer"])
    for name, pairs in sets.items():
        for side, texts in (("en", [s for s, _ in pairs]), ("fr", [t for _, t in pairs])):
            with open(work / f"{name}.bpe.{side}", "w", encoding="utf-8") as handle:
                handle.writelines(" ".join(toks) + "\n" for toks in bpe.split_many(texts))
    return bpe


def peer_venv(work: Path) -> Path:
    venv = work / "onmt-venv"
    python = venv / "bin" / "python"
    if (venv / ".installed").exists():
        return python
    log(f"installing {PEER} into {venv} ({TORCH} first)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    constraints = work / "constraints.txt"
    constraints.write_text(TORCH + "\n", encoding="utf-8")
    subprocess.run([*pip, TORCH], check=True)
    subprocess.run([*pip, PEER, "-c", str(constraints)], check=True)
    (venv / ".installed").touch()
    return python


def peer_config(work: Path, seed: int) -> Path:
    onmt = work / "onmt"
    onmt.mkdir(exist_ok=True)
    config = {
        "save_data": str(onmt),
        "src_vocab": str(onmt / "vocab.shared"),
        "tgt_vocab": str(onmt / "vocab.shared"),
        "share_vocab": True,
        "src_vocab_size": 20000,
        "tgt_vocab_size": 20000,
        "overwrite": True,
        "data": {
            "corpus_1": {
                "path_src": str(work / "train.bpe.en"),
                "path_tgt": str(work / "train.bpe.fr"),
            },
            "valid": {
                "path_src": str(work / "valid.bpe.en"),
                "path_tgt": str(work / "valid.bpe.fr"),
            },
        },
        "save_model": str(onmt / "model"),
        "save_checkpoint_steps": 250,
        "keep_checkpoint": 3,
        "train_steps": 10_000_000,
        "seed": seed,
        # the sizes both tools share; everything else is OpenNMT-py's default
        "encoder_type": "brnn",
        "decoder_type": "rnn",
        "rnn_type": "GRU",
        "layers": 1,
        "hidden_size": 256,
        "word_vec_size": 256,
        "share_embeddings": True,
        "share_decoder_embeddings": True,
        "dropout": [0.2],
        "optim": "adam",
        "learning_rate": 0.002,
        "label_smoothing": 0.1,
        "batch_size": 64,
        "batch_type": "sents",
        "max_grad_norm": 5.0,
    }
    path = onmt / "config.yaml"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")  # JSON is YAML
    return path


def one_core(core: int) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # OpenNMT-py 3.0.4 pickles its vocab
    return ["taskset", "-c", str(core)], env


def train_both(work: Path, python: Path, minutes: float, sets: list[str]) -> dict[str, object]:
    bindir = python.parent
    config = peer_config(work, 1234)
    subprocess.run(
        [str(bindir / "onmt_build_vocab"), "-config", str(config), "-n_sample", "-1"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=one_core(1)[1],
    )
    run = work / "rnncli-run"
    ours_cmd = [sys.executable, "-m", "rnncli", "train", str(RECIPE), "-o", str(run), "-q"]
    ours_cmd += ["--threads", "1"]
    for key, value in (
        ("data.train", work / "train.tsv"),
        ("data.valid", work / "valid.tsv"),
        ("data.test", work / "test.tsv"),
        ("training.max_minutes", "null"),
        ("training.epochs", "1000"),
        ("training.patience", "null"),
        ("training.threads", "1"),
    ):
        ours_cmd += ["--set", f"{key}={value}"]
    for item in sets:
        ours_cmd += ["--set", item]
    peer_cmd = [str(bindir / "onmt_train"), "-config", str(config)]
    pin0, env0 = one_core(0)
    pin1, env1 = one_core(1)
    log(f"training both for {minutes:g} minutes (rnncli on core 0, OpenNMT-py on core 1)")
    with (
        open(work / "rnncli-train.log", "w") as ours_log,
        open(work / "onmt-train.log", "w") as peer_log,
    ):
        start = time.monotonic()
        ours = subprocess.Popen(
            pin0 + ours_cmd, env=env0, stdout=subprocess.DEVNULL, stderr=ours_log
        )
        peer = subprocess.Popen(
            pin1 + peer_cmd, env=env1, stdout=peer_log, stderr=subprocess.STDOUT
        )
        deadline = start + minutes * 60
        while time.monotonic() < deadline and (ours.poll() is None or peer.poll() is None):
            time.sleep(1)
        for proc, sig in ((ours, signal.SIGINT), (peer, signal.SIGTERM)):
            if proc.poll() is None:
                proc.send_signal(sig)
        ours.wait(timeout=300)
        peer.wait(timeout=300)
    wall = time.monotonic() - start
    log(f"stopped after {wall / 60:.1f} minutes")
    steps = [int(m) for m in re.findall(r"Step (\d+)/", (work / "onmt-train.log").read_text())]
    stopped = re.findall(r"at step (\d+)", (work / "rnncli-train.log").read_text())
    metrics = run / "metrics.jsonl"
    if not stopped and metrics.exists():  # it ended on its own
        stopped = [json.loads(metrics.read_text().splitlines()[-1])["step"]]
    return {"run": run, "ours_steps": int(stopped[-1]), "peer_steps": max(steps or [0])}


def peer_checkpoint(work: Path) -> Path:
    saved = sorted(
        (work / "onmt").glob("model_step_*.pt"),
        key=lambda p: int(p.stem.rsplit("_", 1)[1]),
    )
    if not saved:
        raise SystemExit("OpenNMT-py saved no checkpoint: see onmt-train.log")
    return saved[-1]


def translate_both(work: Path, python: Path, run: Path, bpe: object) -> dict[str, list[str]]:
    pin0, env0 = one_core(0)
    pin1, env1 = one_core(1)
    src = work / "test.src.txt"
    pairs = [line.split("\t") for line in (work / "test.tsv").read_text().splitlines()]
    src.write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    ours_out, peer_out = work / "hyp.rnncli.txt", work / "hyp.onmt.bpe"
    ours_cmd = [sys.executable, "-m", "rnncli", "translate", "-m", str(run), "-b", "5"]
    ours_cmd += ["-q", "--threads", "1", str(src)]
    peer_cmd = [str(python.parent / "onmt_translate"), "-model", str(peer_checkpoint(work))]
    peer_cmd += ["-src", str(work / "test.bpe.en"), "-output", str(peer_out)]
    peer_cmd += ["-beam_size", "5", "-batch_size", "64", "-max_length", "100"]
    with open(ours_out, "w") as handle:
        ours = subprocess.Popen(pin0 + ours_cmd, env=env0, stdout=handle)
        peer = subprocess.run(
            pin1 + peer_cmd, env=env1, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        ours.wait()
    if peer.returncode:
        raise SystemExit(f"onmt_translate failed: {peer.stderr.decode()[-2000:]}")
    joined = [bpe.join(line.split()) for line in peer_out.read_text().splitlines()]  # type: ignore[attr-defined]
    return {
        "refs": [t for _, t in pairs],
        "rnncli": ours_out.read_text(encoding="utf-8").splitlines(),
        "OpenNMT-py": joined,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "work" / "vs-opennmt")
    parser.add_argument(
        "--set", action="append", default=[], help="Extra rnncli recipe override (repeatable)."
    )
    args = parser.parse_args()
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("vs_opennmt needs 2 cores: one for each tool")
    import sacrebleu

    args.work.mkdir(parents=True, exist_ok=True)
    sets = make_split(args.work)
    bpe = segment(args.work, sets)
    python = peer_venv(args.work)
    trained = train_both(args.work, python, args.minutes, args.set)
    out = translate_both(args.work, python, trained["run"], bpe)  # type: ignore[arg-type]
    refs = out.pop("refs")
    print(
        f"Tatoeba eng->fra, {len(refs):,} test pairs whose source never occurs in training,"
        f" {args.minutes:g} minutes of training, one core each, beam 5"
    )
    steps = {"rnncli": trained["ours_steps"], "OpenNMT-py": trained["peer_steps"]}
    for name, hyps in out.items():
        bleu = sacrebleu.corpus_bleu(hyps, [refs]).score
        chrf = sacrebleu.corpus_chrf(hyps, [refs]).score
        print(f"{name:<11} BLEU {bleu:5.1f}   chrF {chrf:5.1f}   ({steps[name]:,} steps)")


if __name__ == "__main__":
    main()
