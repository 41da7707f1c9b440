"""LRP on a TF-IDF text classifier: which words made it say "space", "sport" or "food"?

Trains ``TfidfVectorizer -> SVC(kernel="linear")`` (one-vs-rest) on the small corpus bundled in
``examples/data/topics.tsv`` (66 sentences, 3 topics), explains held-out sentences down to each word
occurrence, checks conservation against ``decision_function``, measures word deletion (AOPC)
against a random order, and writes ``out/lrp_text/report.html``: every sentence with its words
shaded red (for the predicted topic) or blue (against it).

    python examples/lrp_text.py          # a few seconds
"""
from __future__ import annotations

import argparse
import html
import os

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.base import clone
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from blackbox_xai.analysis.metrics import perturbation_summary
from blackbox_xai.lrp import LRP
from blackbox_xai.plot import text_heatmap_html

HERE = os.path.dirname(os.path.abspath(__file__))


def load_corpus(path=os.path.join(HERE, "data", "topics.tsv")):
    with open(path, encoding="utf-8") as fh:
        rows = [line.rstrip("\n").split("\t", 1) for line in fh if line.strip()]
    return [doc for _, doc in rows], np.array([label for label, _ in rows])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="out/lrp_text")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    docs, labels = load_corpus()
    train, test, y_train, y_test = train_test_split(docs, labels, test_size=0.3, stratify=labels, random_state=0)
    pipe = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english"),
                         OneVsRestClassifier(SVC(kernel="linear", C=10))).fit(train, y_train)
    cv = cross_val_score(clone(pipe), docs, labels, cv=5).mean()
    print(f"{len(docs)} sentences, topics {sorted(set(labels.tolist()))}; accuracy on the {len(test)} held-out "
          f"sentences {pipe.score(test, y_test):.2f} (5-fold cross-validation: {cv:.2f})")

    result = LRP(pipe).explain_batch(test)  # target=None: each sentence's predicted topic
    decision = pipe.decision_function(test)
    columns = [list(pipe.classes_).index(t) for t in result.target]
    gap = np.abs(result.output - decision[np.arange(len(test)), columns]).max()
    print(f"conservation: |output - decision_function| <= {gap:.1e}, max |residual| "
          f"{np.abs(result.residual).max():.1e} (tokens sum to f - b)")

    # word deletion: most relevant words first vs a random order
    scores = [perturbation_summary(pipe.decision_function, doc, result, index=i, target=columns[i], steps=5,
                                   random_state=i).aopc for i, doc in enumerate(test)]
    print("word deletion AOPC (5 words): " + ", ".join(
        f"{name} {np.mean([s[order] for s in scores]):.3f}"
        for name, order in (("most relevant first", "morf"), ("least relevant first", "lerf"),
                            ("random order", "random"))))

    # the words that speak for each topic, over the test sentences
    names = result.info["feature_names"]
    for topic in pipe.classes_:
        rows = [i for i, t in enumerate(result.target) if t == topic]
        top = np.argsort(-result.relevance[rows].sum(axis=0))[:6]
        print(f"  {topic:>6}: " + ", ".join(names[j] for j in top))

    parts = ["<html><head><meta charset='utf-8'><title>LRP on a TF-IDF SVM</title></head>"
             "<body style='font-family: sans-serif; max-width: 60em'>",
             "<h1>Which words made the SVM decide?</h1>",
             "<p>TF-IDF (uni- and bigrams, English stop words removed) and a linear SVM per topic. Red: relevance for the predicted "
             "topic, blue: against it. Hover over a word for its value; the values of a sentence sum "
             "to its decision value minus the intercept.</p>"]
    for i, doc in enumerate(test):
        mark = "" if result.target[i] == y_test[i] else f" (true: {html.escape(y_test[i])})"
        parts.append(f"<h3>{html.escape(str(result.target[i]))}{mark}: f = {result.output[i]:+.3f}</h3>")
        parts.append(text_heatmap_html(result, index=i))
    parts.append("</body></html>")
    path = os.path.join(args.out, "report.html")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(parts))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
