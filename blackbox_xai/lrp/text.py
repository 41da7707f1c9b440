"""Text: relevance of a CountVectorizer / TfidfVectorizer pipeline per vocabulary entry and per token.

The vectorizer's output is the model's input, so relevance per vocabulary entry ``R_j`` comes from
the model's rule (``w_cj x_j`` for a linear model). Each occurrence of term ``j`` in the document
then gets ``R_j / tf_j``, an n-gram's share split equally among its tokens; tokens outside the
vocabulary (or stop words) get 0. Token offsets are recovered with the vectorizer's own
``token_pattern`` on the (lowercased) text, so they point into the original document.
"""
from __future__ import annotations

import re

import numpy as np


def is_text_vectorizer(step) -> bool:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    return isinstance(step, (CountVectorizer, TfidfVectorizer))


def _check_vectorizer(vec):
    problems = []
    if vec.analyzer != "word":
        problems.append(f"analyzer={vec.analyzer!r}")
    if vec.tokenizer is not None or vec.preprocessor is not None:
        problems.append("a custom tokenizer or preprocessor")
    if vec.strip_accents is not None:
        problems.append(f"strip_accents={vec.strip_accents!r}")
    if problems:
        raise ValueError(
            f"token offsets need the default word analysis; the vectorizer has {', '.join(problems)}. "
            "Relevance per vocabulary entry is still in result.relevance (explain the pipeline's "
            "last step on vectorizer.transform(docs) directly)"
        )


def tokens_with_offsets(vec, doc):
    """``[(token, start, end)]`` as the vectorizer sees them (stop words removed), with offsets
    into ``doc``."""
    _check_vectorizer(vec)
    text = doc.lower() if vec.lowercase else doc
    if len(text) != len(doc):  # lowercasing changed the length (rare Unicode): offsets would drift
        raise ValueError("lowercasing changes this document's length; token offsets cannot be recovered")
    pattern = re.compile(vec.token_pattern)
    group = 1 if pattern.groups == 1 else 0
    stop = vec.get_stop_words() or ()
    found = [(m.group(group), m.start(group), m.end(group)) for m in pattern.finditer(text)]
    return [t for t in found if t[0] not in stop]


def token_relevance(vec, doc, R_vocab):
    """Per-token relevance of one document from its relevance per vocabulary entry.

    Returns ``(tokens, absent)``: ``tokens`` a list of dicts ``{"token", "start", "end",
    "relevance", "terms"}`` (``terms``: the vocabulary entries, n-grams included, that the token
    is part of), and ``absent``, the relevance of vocabulary entries that do not occur in the
    document (0 for linear and additive rules; an RBF Taylor/path rule can give absent words
    relevance).
    """
    tokens = tokens_with_offsets(vec, doc)
    vocab = vec.vocabulary_
    lo, hi = vec.ngram_range
    occurrences = {}  # term index -> list of token-index tuples
    words = [t[0] for t in tokens]
    for n in range(lo, hi + 1):
        for i in range(len(words) - n + 1):
            j = vocab.get(" ".join(words[i:i + n]))
            if j is not None:
                occurrences.setdefault(j, []).append(range(i, i + n))
    values = np.zeros(len(tokens))
    terms = [[] for _ in tokens]
    for j, spans in occurrences.items():
        share = R_vocab[j] / len(spans)  # each of the tf_j occurrences
        for span in spans:
            for i in span:
                values[i] += share / len(span)
                terms[i].append(j)
    present = np.zeros(len(R_vocab), dtype=bool)
    present[list(occurrences)] = True
    absent = float(np.asarray(R_vocab)[~present].sum())
    out = [{"token": doc[s:e], "start": s, "end": e, "relevance": float(v), "terms": t}
           for (_, s, e), v, t in zip(tokens, values, terms)]
    return out, absent
