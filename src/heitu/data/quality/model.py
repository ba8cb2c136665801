"""The learned quality model: a linear classifier on hashed n-grams, "clean reference" vs "raw web".

API::

    info = train_model(positive=["ref/*.jsonl"], negative=["web/*.warc.gz"], output="qm/")
    model = load_model("qm/")                 # cached per process; no pickle anywhere
    p_clean = model.predict_proba(texts)       # float32, P(clean)
    metrics = evaluate(model, positive=[...], negative=[...], split="heldout")

Features (``analyzer: heitu_mixed_ngrams_v1``). Every document is cut to ``max_chars`` (default
10,000: the score settles long before that and the cost per page stays bounded), NFKC-normalised
and lower-cased, then split into runs:

- CJK runs (Han, kana, Hangul): character 1-3-grams inside the run. Chinese/Japanese have no
  spaces, so characters are the only tokenisation that needs no segmenter; 2-3-grams carry most
  of the word information, 1-grams the function characters (的 了 是) that prose has and menus lack.
- everything else: word tokens (``\\w+``), each punctuation mark as its own token, and a ``<nl>``
  token per line break; word uni- and bigrams over that stream. Punctuation and line breaks are
  the strongest boilerplate evidence there is (``home <nl> news <nl> sports`` vs ``, which``).

Both kinds of n-gram (prefixed so they cannot coincide: ``c:`` / ``w:``) are hashed by
scikit-learn's ``HashingVectorizer`` (MurmurHash3, ``alternate_sign=False``) into ONE space of
``2**n_features_log2`` (default 2**20) dimensions; counts are log1p-damped and each row is
L2-normalised. One space keeps one weight vector for mixed-language pages, and a hashing
vectorizer has no vocabulary to store, so the model is the weight vector plus these parameters.

Classifier: ``SGDClassifier(loss="log_loss")`` (logistic regression), trained by ``partial_fit``
over mini-batches for ``epochs`` passes (so the progress bar moves and memory is the sparse matrix
only), classes re-weighted to balance ("clean" is usually the smaller set).

Held-out split: a document is held out iff ``blake2b(salt + group) mod 10_000 < heldout * 10_000``
where ``group`` is the id up to its first ``#`` (the whole id when it has none), so the chunks
``page#0``, ``page#1`` of one source document never straddle the split: deterministic,
independent of file order, and recomputable. ``eval`` therefore re-reads the same
inputs and scores exactly the documents training never saw (``split="heldout"``); for an external
test set use ``split="all"``. model.json records every training file's sha256 so ``eval`` can say
when its inputs are not the training inputs.

Model folder: ``model.json`` (format, analyzer and vectorizer params, classes, training data
checksums and counts, held-out metrics, heitu version) + ``weights.npz`` (``coef`` float32
[n_features], ``intercept`` float32 [1]), loaded with ``allow_pickle=False``: loading a shared model
runs no code.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from heitu.core.errors import UserError, require

FORMAT = "heitu-quality-model"
FORMAT_VERSION = 1
ANALYZER = "heitu_mixed_ngrams_v1"
CLASSES = ["raw", "clean"]  # index 1 = positive = "clean"
MODEL_JSON = "model.json"
WEIGHTS = "weights.npz"
_FEATURE = "quality model"

# --------------------------------------------------------------------------------------------
# features

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(f"([{_CJK}]+)|(\\n)|([^\\W{_CJK}]+)|([^\\w\\s])")


def analyze(text: str, max_chars: int = 10_000) -> list[str]:
    """The n-gram features of one text (see the module docstring)."""
    if not text:
        return []
    text = unicodedata.normalize("NFKC", text[:max_chars]).lower()
    feats: list[str] = []
    words: list[str] = []
    for cjk, nl, word, punct in _TOKEN.findall(text):
        if cjk:
            n = len(cjk)
            feats.extend("c:" + cjk[i : i + 1] for i in range(n))
            feats.extend("c:" + cjk[i : i + 2] for i in range(n - 1))
            feats.extend("c:" + cjk[i : i + 3] for i in range(n - 2))
            words.append("<cjk>")  # keeps word bigrams from bridging a CJK run
        elif nl:
            if words and words[-1] == "<nl>":
                continue  # blank lines: one break token
            words.append("<nl>")
        else:
            words.append(word or punct)
    feats.extend("w:" + w for w in words)
    feats.extend(f"w:{a} {b}" for a, b in pairwise(words))
    return feats


@dataclass(frozen=True)
class VectorizerParams:
    analyzer: str = ANALYZER
    n_features_log2: int = 20
    max_chars: int = 10_000
    sublinear_tf: bool = True  # log1p of counts
    norm: str = "l2"

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, d: dict, where: str) -> VectorizerParams:
        try:
            p = cls(**d)
        except TypeError as exc:
            raise UserError(f"{where}: unknown vectorizer parameters ({exc})") from exc
        if p.analyzer != ANALYZER:
            raise UserError(f"{where}: analyzer {p.analyzer!r} is not supported by this heitu (only {ANALYZER!r})")
        if not 10 <= p.n_features_log2 <= 26:
            raise UserError(f"{where}: n_features_log2 must be in [10, 26], got {p.n_features_log2}")
        return p


class Vectorizer:
    """texts -> scipy CSR matrix of the configured hashed features."""

    def __init__(self, params: VectorizerParams):
        fe = require("sklearn.feature_extraction.text", extra="quality", feature="The quality model", package="scikit-learn")
        self.params = params
        mc = params.max_chars
        self._hv = fe.HashingVectorizer(
            analyzer=lambda t: analyze(t, mc),
            n_features=2**params.n_features_log2,
            alternate_sign=False,
            norm=None,
            dtype=np.float32,
        )

    def transform(self, texts: list[str | None]):
        X = self._hv.transform([t or "" for t in texts])
        if self.params.sublinear_tf:
            np.log1p(X.data, out=X.data)
        if self.params.norm == "l2":
            from sklearn.preprocessing import normalize

            X = normalize(X, norm="l2", copy=False)
        return X.tocsr()


# --------------------------------------------------------------------------------------------
# the model


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))).astype(np.float32)


class QualityModel:
    """A loaded model: `predict_proba(texts)` -> float32 P(clean) per text."""

    def __init__(self, meta: dict, coef: np.ndarray, intercept: float, path: Path | None = None):
        self.meta = meta
        self.path = path
        self.params = VectorizerParams.from_json(meta.get("vectorizer", {}), str(path or "model"))
        self.coef = np.asarray(coef, dtype=np.float32).ravel()
        self.intercept = float(intercept)
        self._vec: Vectorizer | None = None

    @property
    def vectorizer(self) -> Vectorizer:
        if self._vec is None:
            self._vec = Vectorizer(self.params)
        return self._vec

    def decision_function(self, texts: list[str | None]) -> np.ndarray:
        X = self.vectorizer.transform(texts)
        return np.asarray(X @ self.coef, dtype=np.float64) + self.intercept

    def predict_proba(self, texts: list[str | None]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        return _sigmoid(self.decision_function(texts))

    def files(self) -> list[Path]:
        if self.path is None:
            return []
        return [self.path / MODEL_JSON, self.path / WEIGHTS]

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            folder / WEIGHTS, coef=self.coef.astype(np.float32), intercept=np.array([self.intercept], dtype=np.float32)
        )
        (folder / MODEL_JSON).write_text(json.dumps(self.meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        self.path = folder
        return folder


_LOADED: dict[tuple, QualityModel] = {}
_LOCK = threading.Lock()


def model_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    return [folder / MODEL_JSON, folder / WEIGHTS]


def load_model(folder: str | Path, *, cache: bool = True) -> QualityModel:
    """Load a model folder (validated; no pickle). Cached per process by (path, mtimes)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UserError(f"quality model folder {folder} does not exist (expected a folder with {MODEL_JSON} and {WEIGHTS})")
    mj, wf = folder / MODEL_JSON, folder / WEIGHTS
    for f in (mj, wf):
        if not f.is_file():
            raise UserError(f"{f} is missing: {folder} is not a heitu quality model folder (train one with `heitu data quality-model train`)")
    key = (str(folder.resolve()), mj.stat().st_mtime_ns, wf.stat().st_mtime_ns)
    if cache and key in _LOADED:
        return _LOADED[key]
    with _LOCK:
        if cache and key in _LOADED:
            return _LOADED[key]
        try:
            meta = json.loads(mj.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"{mj} is not valid JSON: {exc}") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise UserError(f"{mj} is not a heitu quality model (its 'format' is not {FORMAT!r})")
        if meta.get("format_version") != FORMAT_VERSION:
            raise UserError(
                f"{mj} has format_version {meta.get('format_version')!r}; this heitu reads version {FORMAT_VERSION}"
            )
        if meta.get("classes") != CLASSES:
            raise UserError(f"{mj}: classes must be {CLASSES}, got {meta.get('classes')!r}")
        try:
            with np.load(wf, allow_pickle=False) as z:
                coef = np.asarray(z["coef"], dtype=np.float32)
                intercept = np.asarray(z["intercept"], dtype=np.float32)
        except Exception as exc:
            raise UserError(f"{wf} is not a valid weights file (expected arrays 'coef' and 'intercept'): {exc}") from exc
        model = QualityModel(meta, coef, float(intercept.ravel()[0]) if intercept.size else 0.0, folder)
        if model.coef.shape != (2**model.params.n_features_log2,) or intercept.size != 1:
            raise UserError(
                f"{wf}: coef has shape {coef.shape}, expected ({2**model.params.n_features_log2},) as {mj} says"
            )
        if cache:
            _LOADED[key] = model
        return model


# --------------------------------------------------------------------------------------------
# data


def is_heldout(doc_id: str, fraction: float, salt: str = "") -> bool:
    """The deterministic held-out split: a hash of the document id."""
    if fraction <= 0:
        return False
    group = doc_id.split("#", 1)[0]  # "page#3": every part of one source document on one side
    h = int.from_bytes(hashlib.blake2b((salt + group).encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
    return (h % 10_000) < round(fraction * 10_000)


def _sha256(path: str) -> str | None:
    try:
        import fsspec

        h = hashlib.sha256()
        with fsspec.open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None


@dataclass
class InputSet:
    label: int
    files: list[tuple[str, str]]  # (url_or_path, source_name)
    checksums: list[dict] = field(default_factory=list)


def _expand(patterns: list[str], what: str) -> InputSet:
    from heitu.data.readers import detect_format, expand_inputs

    if not patterns:
        raise UserError(f"no {what} inputs given")
    files = []
    for pat in patterns:
        try:
            found = expand_inputs([pat])
        except UserError as exc:
            raise UserError(f"{what} input {pat!r}: {exc}") from exc
        for url, name in found:
            if detect_format(name) is None and detect_format(url) is None:
                raise UserError(f"{what} input {url}: unsupported file type (expected jsonl/parquet/text/html/WARC)")
            files.append((url, name))
    return InputSet(1 if what == "positive" else 0, files)


def iter_docs(files: list[tuple[str, str]]) -> Iterator[tuple[str, str, str]]:
    """(source_name, id, text) of every readable document; bad records are skipped."""
    from heitu.data.readers import ReaderOptions, ReadError, read_documents

    opts = ReaderOptions()
    for url, name in files:
        for item in read_documents(url, name, opts):
            if isinstance(item, ReadError):
                continue
            text = item.get("text")
            if text:
                yield name, str(item["id"]), text


@dataclass
class _Split:
    X_train: list = field(default_factory=list)
    y_train: list = field(default_factory=list)
    X_held: list = field(default_factory=list)
    y_held: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)


def _vectorize_sets(
    vec: Vectorizer, sets: list[InputSet], heldout: float, salt: str, progress=None, chunk: int = 512, split: str = "heldout"
) -> _Split:
    """Read and vectorise every set in chunks. split="heldout": held-out ids -> X_held, the rest ->
    X_train; "train": the reverse; "all": everything -> X_held (eval reads X_held)."""
    import scipy.sparse as sp

    out = _Split()
    task = None
    if progress is not None:
        task = progress.add_task("reading + vectorising", total=sum(len(s.files) for s in sets), rate="")
    t0 = time.perf_counter()
    n_docs = 0
    for s in sets:
        per_file: dict[str, int] = {}
        bufs: dict[bool, list[str]] = {False: [], True: []}  # is_held -> texts
        for url, name in s.files:
            for _, doc_id, text in iter_docs([(url, name)]):
                n_docs += 1
                per_file[name] = per_file.get(name, 0) + 1
                held = True if split == "all" else is_heldout(doc_id, heldout, salt) == (split == "heldout")
                bufs[held].append(text)
                if len(bufs[held]) >= chunk:
                    _flush(vec, out, bufs[held], held, s.label)
                if progress is not None and n_docs % 256 == 0:  # big files: keep the rate moving
                    progress.update(task, rate=f"{n_docs:,} docs, {n_docs / max(time.perf_counter() - t0, 1e-9):,.0f} docs/s")
            per_file.setdefault(name, 0)
            if progress is not None:
                el = max(time.perf_counter() - t0, 1e-9)
                progress.update(task, advance=1, rate=f"{n_docs:,} docs, {n_docs / el:,.0f} docs/s")
        for held, buf in bufs.items():
            _flush(vec, out, buf, held, s.label)
        out.counts[s.label] = per_file
    for attr in ("X_train", "X_held"):
        mats = getattr(out, attr)
        setattr(out, attr, sp.vstack(mats).tocsr() if mats else None)
    for attr in ("y_train", "y_held"):
        ys = getattr(out, attr)
        setattr(out, attr, np.concatenate(ys) if ys else np.zeros(0, dtype=np.int8))
    return out


def _flush(vec: Vectorizer, out: _Split, buf: list[str], held: bool, label: int) -> None:
    if not buf:
        return
    (out.X_held if held else out.X_train).append(vec.transform(buf))
    (out.y_held if held else out.y_train).append(np.full(len(buf), label, dtype=np.int8))
    buf.clear()


# --------------------------------------------------------------------------------------------
# metrics


def metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict:
    """precision/recall/F1 of "clean" at `threshold`, ROC AUC, counts."""
    y = np.asarray(y).astype(bool)
    pred = np.asarray(p) >= threshold
    tp = int((pred & y).sum())
    fp = int((pred & ~y).sum())
    fn = int((~pred & y).sum())
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    auc = None
    if y.any() and (~y).any():
        from sklearn.metrics import roc_auc_score

        auc = float(roc_auc_score(y, p))
    acc = float((pred == y).mean()) if len(y) else 0.0
    return {
        "n": len(y),
        "n_positive": int(y.sum()),
        "n_negative": int((~y).sum()),
        "threshold": threshold,
        "precision": round(prec, 4),
        "recall": round(rec, 4),
        "f1": round(f1, 4),
        "accuracy": round(acc, 4),
        "auc": round(auc, 4) if auc is not None else None,
    }


# --------------------------------------------------------------------------------------------
# train / eval


def _checksums(s: InputSet, counts: dict[str, int]) -> list[dict]:
    return [{"file": name, "sha256": _sha256(url), "docs": counts.get(name, 0)} for url, name in s.files]


def train_model(
    positive: list[str],
    negative: list[str],
    output: str | Path,
    *,
    heldout: float = 0.1,
    salt: str = "",
    n_features_log2: int = 20,
    max_chars: int = 10_000,
    epochs: int = 10,
    alpha: float = 1e-5,
    batch_size: int = 256,
    seed: int = 0,
    overwrite: bool = False,
    show_progress: bool = True,
) -> QualityModel:
    """Train on `positive` (clean) vs `negative` (raw) globs; write the model folder; return it."""
    require("sklearn", extra="quality", feature="Training the quality model", package="scikit-learn")
    from sklearn.linear_model import SGDClassifier

    from heitu import __version__
    from heitu.core.progress import make_progress

    output = Path(output).expanduser()
    if not 0 <= heldout < 1:
        raise UserError(f"--heldout must be in [0, 1), got {heldout}")
    if epochs < 1:
        raise UserError(f"--epochs must be >= 1, got {epochs}")
    if output.exists() and not output.is_dir():
        raise UserError(f"output {output} exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        if not (output / MODEL_JSON).is_file():
            raise UserError(f"output folder {output} is not empty and holds no quality model; choose another folder")
        raise UserError(f"output folder {output} already holds a model; pass --overwrite to replace it")
    pos = _expand(positive, "positive")
    neg = _expand(negative, "negative")
    params = VectorizerParams(n_features_log2=n_features_log2, max_chars=max_chars)
    vec = Vectorizer(params)
    t_start = time.perf_counter()
    with make_progress(disable=not show_progress) as progress:
        data = _vectorize_sets(vec, [pos, neg], heldout, salt, progress)
        n_pos = int((data.y_train == 1).sum()) + int((data.y_held == 1).sum())
        n_neg = int((data.y_train == 0).sum()) + int((data.y_held == 0).sum())
        if n_pos == 0:
            raise UserError(f"the positive set has no readable documents: {', '.join(n for _, n in pos.files)}")
        if n_neg == 0:
            raise UserError(f"the negative set has no readable documents: {', '.join(n for _, n in neg.files)}")
        X, y = data.X_train, data.y_train
        if X is None or (y == 1).sum() == 0 or (y == 0).sum() == 0:
            raise UserError("after holding out documents, the training split lacks one of the classes; add data or lower --heldout")
        # balanced class weights as sample weights (partial_fit has no class_weight="balanced")
        w_cls = {c: len(y) / (2.0 * (y == c).sum()) for c in (0, 1)}
        sw = np.where(y == 1, w_cls[1], w_cls[0]).astype(np.float64)
        clf = SGDClassifier(loss="log_loss", alpha=alpha, learning_rate="optimal", random_state=seed, average=False)
        rng = np.random.default_rng(seed)
        n_batches = math.ceil(len(y) / batch_size)
        task = progress.add_task("training", total=epochs * n_batches, rate="")
        t0 = time.perf_counter()
        for ep in range(epochs):
            order = rng.permutation(len(y))
            for b in range(n_batches):
                idx = order[b * batch_size : (b + 1) * batch_size]
                clf.partial_fit(X[idx], y[idx], classes=np.array([0, 1]), sample_weight=sw[idx])
                progress.update(task, advance=1, rate=f"epoch {ep + 1}/{epochs}")
        train_s = time.perf_counter() - t0
    coef = clf.coef_.ravel().astype(np.float32)
    intercept = float(clf.intercept_[0])
    meta: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "heitu_version": __version__,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "classes": CLASSES,
        "score": "probability of 'clean' (class 1)",
        "vectorizer": params.to_json(),
        "classifier": {
            "kind": "sgd_logistic",
            "alpha": alpha,
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "class_weight": {CLASSES[c]: round(w, 6) for c, w in w_cls.items()},
            "library": f"scikit-learn {__import__('sklearn').__version__}",
        },
        "split": {"method": "blake2b(salt + id.split('#')[0]) % 10000 < heldout * 10000", "heldout": heldout, "salt": salt},
        "training_data": {
            "positive": _checksums(pos, data.counts.get(1, {})),
            "negative": _checksums(neg, data.counts.get(0, {})),
        },
        "counts": {
            "train": {"clean": int((y == 1).sum()), "raw": int((y == 0).sum())},
            "heldout": {"clean": int((data.y_held == 1).sum()), "raw": int((data.y_held == 0).sum())},
        },
        "timing_s": {"total": round(time.perf_counter() - t_start, 2), "fit": round(train_s, 2)},
    }
    model = QualityModel(meta, coef, intercept)
    if data.X_held is not None and len(data.y_held):
        p = _sigmoid(np.asarray(data.X_held @ coef, dtype=np.float64) + intercept)
        meta["metrics_heldout"] = metrics(data.y_held, p)
    else:
        meta["metrics_heldout"] = None
    p_train = _sigmoid(np.asarray(X @ coef, dtype=np.float64) + intercept)
    meta["metrics_train"] = metrics(y, p_train)
    model.save(output)
    return model


def _training_files(model: QualityModel) -> set[str]:
    td = model.meta.get("training_data", {})
    return {f.get("sha256") for part in ("positive", "negative") for f in td.get(part, []) if f.get("sha256")}


def evaluate(
    model: QualityModel | str | Path,
    positive: list[str],
    negative: list[str],
    *,
    split: str = "heldout",
    threshold: float = 0.5,
    show_progress: bool = False,
) -> dict:
    """Metrics of `model` on the documents of `positive`/`negative`.

    split="heldout": only the documents whose id hash falls in the model's held-out split (use the
    training inputs); "all": every document (an external test set); "train": the complement."""
    from heitu.core.progress import make_progress

    if split not in ("heldout", "all", "train"):
        raise UserError(f"split must be heldout, all or train; got {split!r}")
    if not isinstance(model, QualityModel):
        model = load_model(model)
    pos = _expand(positive, "positive")
    neg = _expand(negative, "negative")
    sp = model.meta.get("split", {})
    with make_progress(disable=not show_progress, transient=True) as progress:
        data = _vectorize_sets(
            model.vectorizer, [pos, neg], float(sp.get("heldout", 0.0)), str(sp.get("salt", "")), progress, split=split
        )
    n_total = sum(sum(c.values()) for c in data.counts.values())
    if data.counts.get(1) is not None and sum(data.counts[1].values()) == 0:
        raise UserError(f"the positive set has no readable documents: {', '.join(n for _, n in pos.files)}")
    if n_total == 0:
        raise UserError("no readable documents in the inputs")
    y = data.y_held
    if data.X_held is None or len(y) == 0:
        raise UserError(f"no documents fall in the {split!r} split of these inputs (held-out fraction {sp.get('heldout')})")
    p = _sigmoid(np.asarray(data.X_held @ model.coef, dtype=np.float64) + model.intercept)
    res = metrics(y, p, threshold)
    res["split"] = split
    known = _training_files(model)
    given = [(url, name) for s in (pos, neg) for url, name in s.files]
    res["inputs_not_in_training"] = [name for url, name in given if _sha256(url) not in known]
    return res
