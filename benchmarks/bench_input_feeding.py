"""Training step of an input-feeding seq2seq model: rnncli's teacher-forced pass against
the same model stepped token by token (what the pass was before 2026-12-04).

    python benchmarks/bench_input_feeding.py [--threads 1] [--steps 30]

The vs_opennmt model: GRU 256 (bi-GRU encoder 2 x 128), general attention, input feeding,
copy bridge, 8k shared tied vocabulary, dropout 0.2, batch 64, 14 source and 16 target
tokens, Adam. Each variant: 5 warm-up steps, then --steps timed steps (forward, loss,
backward, update), two alternating rounds; ms per step printed.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from rnncli.models.seq2seq import Seq2Seq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = Seq2Seq(
        8000, 8000, 256, 256, cell="gru", dropout=0.2, attention="general",
        input_feeding=True, bridge="copy", share_embeddings=True, tie_embeddings=True,
    )  # fmt: skip
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    src = torch.randint(4, 8000, (64, 14))
    lengths = torch.full((64,), 14)
    tgt = torch.randint(4, 8000, (64, 16))

    def stepped(src: Tensor, lengths: Tensor, tgt: Tensor) -> Tensor:
        state, step, out = model.encode(src, lengths), model.stepper(), []
        for t in range(tgt.shape[1]):
            logits, state = step(tgt[:, t], state)
            out.append(logits)
        return torch.stack(out, 1)

    def timed(forward: Callable[[Tensor, Tensor, Tensor], Tensor]) -> float:
        for i in range(args.steps + 5):
            if i == 5:
                start = time.perf_counter()
            logits = forward(src, lengths, tgt)
            loss = F.cross_entropy(logits.flatten(0, 1), tgt.flatten())
            opt.zero_grad()
            loss.backward()
            opt.step()
        return (time.perf_counter() - start) / args.steps * 1000

    print(f"torch {torch.__version__}, {args.threads} thread(s), batch 64, {args.steps} steps")
    for r in range(2):
        old, new = timed(stepped), timed(model)
        print(f"round {r + 1}: token by token {old:.1f} ms/step, rnncli's pass {new:.1f} ms/step")


if __name__ == "__main__":
    main()
