"""Reference character n-gram language model for the perplexity metric of heitu-quality-v1.

An interpolated Kneser-Ney character n-gram model (Chen & Goodman 1998, fixed discount
D = 0.75), trained locally on a clean reference corpus. Characters, not words: no tokenizer
and no download is needed, and it works the same on Chinese and English text.

Why our own counting code rather than a library: ``nltk.lm`` (the maintained pure-Python
option; not a heitu dependency) was measured on the same task — order 3, Kneser-Ney, trained
on 300 FewCLUE abstracts (74k characters), scoring 20 held-out abstracts: nltk trains in 1.9 s
and scores **59 characters/s** (a 2,000-document sample would take hours), this module trains
in 0.2 s and scores ~180,000 characters/s; nltk models are also saved with pickle. KenLM
needs a C++ build and external binaries. The counting here is plain dictionaries: training on
a few MB of reference text takes seconds, scoring a 2,000-document sample a few seconds.

Saved as gzip-compressed JSON (no pickle): ``{"format", "order", "discount", "counts":
[{ngram: count} for order 1..n]}`` where highest-order counts are raw counts and lower-order
counts are Kneser-Ney continuation counts. ``checksum`` is the sha256 of the file, recorded by
the scorecard so a grade names the exact model it used.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

FORMAT = "heitu-charlm-kn-v1"
BOS = "\x02"
EOS = "\x03"
MAX_CHARS = 2000  # each text is scored on its first 2,000 characters (bounded time per document)


class ReferenceLM:
    def __init__(self, order: int, discount: float, counts: list[dict[str, int]], checksum: str | None = None):
        if order < 1 or len(counts) != order:
            raise ValueError("counts must hold one table per order")
        self.order = order
        self.discount = discount
        self.counts = counts
        self.checksum = checksum
        self._prepare()

    # -- derived tables: context totals and number of distinct followers, per order
    def _prepare(self) -> None:
        self._ctx_total: list[dict[str, int]] = []
        self._ctx_types: list[dict[str, int]] = []
        for table in self.counts:
            tot: dict[str, int] = defaultdict(int)
            typ: dict[str, int] = defaultdict(int)
            for g, c in table.items():
                tot[g[:-1]] += c
                typ[g[:-1]] += 1
            self._ctx_total.append(dict(tot))
            self._ctx_types.append(dict(typ))
        self.vocab_size = len(self.counts[0]) + 1  # + unknown character

    @classmethod
    def train(cls, texts: Iterable[str], order: int = 3, discount: float = 0.75) -> ReferenceLM:
        n = order
        top: Counter[str] = Counter()
        for t in texts:
            s = BOS * (n - 1) + t[:MAX_CHARS] + EOS
            top.update(s[i:i + n] for i in range(len(s) - n + 1))
        counts: list[dict[str, int]] = [{} for _ in range(n)]
        counts[n - 1] = dict(top)
        # continuation counts: N1+(. g) for each lower-order n-gram g
        higher = top
        for k in range(n - 1, 0, -1):
            cont: Counter[str] = Counter()
            for g in higher:
                cont[g[1:]] += 1
            # the unigram/lower tables never predict BOS
            counts[k - 1] = {g: c for g, c in cont.items() if not g.endswith(BOS)}
            higher = cont
        return cls(n, discount, counts)

    def save(self, path: Path) -> str:
        path = Path(path)
        payload = {"format": FORMAT, "order": self.order, "discount": self.discount,
                   "counts": [dict(sorted(t.items())) for t in self.counts]}
        data = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        path.parent.mkdir(parents=True, exist_ok=True)
        # mtime=0: the same model gives the same bytes
        with open(path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0, filename="") as gz:
            gz.write(data)
        self.checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        return self.checksum

    @classmethod
    def load(cls, path: Path) -> ReferenceLM:
        raw = Path(path).read_bytes()
        payload = json.loads(gzip.decompress(raw))
        if payload.get("format") != FORMAT:
            from heitu.core.errors import UserError

            raise UserError(f"{path} is not a heitu reference LM (format {FORMAT})")
        return cls(payload["order"], payload["discount"], payload["counts"], hashlib.sha256(raw).hexdigest())

    def _prob(self, hist: str, ch: str) -> float:
        p = 1.0 / self.vocab_size
        d = self.discount
        for k in range(1, self.order + 1):  # from unigram up to the full order
            ctx = hist[len(hist) - (k - 1):] if k > 1 else ""
            tot = self._ctx_total[k - 1].get(ctx)
            if not tot:
                continue  # unseen context: keep the lower-order estimate
            c = self.counts[k - 1].get(ctx + ch, 0)
            p = max(c - d, 0.0) / tot + d * self._ctx_types[k - 1][ctx] / tot * p
        return p

    def logprob(self, text: str) -> tuple[float, int]:
        """Natural-log probability of the text (first MAX_CHARS characters + end) and the
        number of predicted characters."""
        n = self.order
        s = BOS * (n - 1) + text[:MAX_CHARS] + EOS
        lp = 0.0
        for i in range(n - 1, len(s)):
            lp += math.log(self._prob(s[i - n + 1:i], s[i]))
        return lp, len(s) - n + 1

    def perplexity(self, texts: Iterable[str]) -> list[float]:
        out = []
        for t in texts:
            lp, m = self.logprob(t)
            out.append(math.exp(-lp / m))
        return out


def train_reference_lm(texts: Iterable[str], out: Path, *, order: int = 3, discount: float = 0.75) -> ReferenceLM:
    """Train on clean reference texts and save to `out` (gzip JSON); returns the model."""
    lm = ReferenceLM.train(texts, order=order, discount=discount)
    lm.save(out)
    return lm


def load_reference_lm(path: Path) -> ReferenceLM:
    return ReferenceLM.load(path)
