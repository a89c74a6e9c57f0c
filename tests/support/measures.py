"""An independent reference for verbatim's corpus statistics, in plain Python (no packages).

Reads captions as NDJSON on stdin (doc_id, seq, words: the caption's words as tokenize() gives
them, speaker, channel, language, published_at), in document and caption order, and prints the
statistics as JSON: one object per word. Usage:

    measures.py collocations TERM WINDOW FILTER
    measures.py keyness TARGET_FILTER REFERENCE_FILTER   (reference '' = the rest)
    measures.py frequencies FILTER

Filters are written as in a corpus query: speaker:"X" channel:X lang:en after:YYYY-MM-DD
before:YYYY-MM-DD (case ignored). The definitions follow Sketch Engine's "Statistics used in
Sketch Engine", Rayson and Garside (2000), Hardie (2014) and Gries (2008).
"""

import json
import math
import re
import shlex
import sys
from collections import Counter, defaultdict


def parse_filter(text):
    filters = {}
    for token in shlex.split(text):
        key, _, value = token.partition(":")
        filters[key] = value
    return filters


def takes(filters, caption):
    def same(key, field):
        if key not in filters:
            return True
        value = caption.get(field)
        return value is not None and value.lower() == filters[key].lower()

    if not (same("speaker", "speaker") and same("channel", "channel")):
        return False
    if "lang" in filters:
        code, wanted = caption.get("language"), filters["lang"].lower()
        if code is None:
            return False
        code = code.lower()
        if not (code == wanted or (code.startswith(wanted) and code[len(wanted):len(wanted) + 1] in ("-", "_"))):
            return False
    day = (caption.get("published_at") or "")[:10] or None
    if "after" in filters and (day is None or day < filters["after"]):
        return False
    if "before" in filters and (day is None or day >= filters["before"]):
        return False
    return True


def documents(captions):
    current, words = None, []
    for caption in captions:
        if caption["doc_id"] != current:
            if current is not None:
                yield current, words
            current, words = caption["doc_id"], []
        words.append(caption)
    if current is not None:
        yield current, words


def log2(x):
    return math.log(x, 2)


def g2(table):
    total = sum(sum(row) for row in table)
    rows = [sum(row) for row in table]
    columns = [table[0][j] + table[1][j] for j in range(2)]
    out = 0.0
    for i in range(2):
        for j in range(2):
            o = table[i][j]
            if o > 0:
                out += o * math.log(o / (rows[i] * columns[j] / total))
    return 2 * out


def fold(word):
    """A word with its final sigma and curly apostrophe made the plain ones, as search compares words."""
    return word.replace("ς", "σ").replace("’", "'")


def collocations(captions, term, window, flt):
    term = [fold(w) for w in term.lower().split()]
    freq, near = Counter(), Counter()
    f_x = n = 0
    for _, doc in documents(captions):
        words = [w for c in doc if takes(flt, c) for w in c["words"]]
        freq.update(words)
        n += len(words)
        for i in range(len(words) - len(term) + 1):
            if [fold(w) for w in words[i:i + len(term)]] == term:
                f_x += 1
                for j in list(range(max(0, i - window), i)) + list(range(i + len(term), min(len(words), i + len(term) + window))):
                    near[words[j]] += 1
    out = {}
    for word, f_xy in near.items():
        f_y = freq[word]
        out[word] = {
            "f_xy": f_xy, "f_x": f_x, "f_y": f_y, "n": n,
            "mi": log2(f_xy * n / (f_x * f_y)),
            "mi3": log2(f_xy ** 3 * n / (f_x * f_y)),
            "t_score": (f_xy - f_x * f_y / n) / math.sqrt(f_xy),
            "log_dice": 14 + log2(2 * f_xy / (f_x + f_y)),
            "log_likelihood": g2([[f_xy, f_x - f_xy], [f_y - f_xy, n - f_x - f_y + f_xy]]),
        }
    return out


def keyness(captions, target, reference):
    counts = [Counter(), Counter()]
    for caption in captions:
        if takes(target, caption):
            counts[0].update(caption["words"])
        elif reference is None or takes(reference, caption):
            counts[1].update(caption["words"])
    c, d = sum(counts[0].values()), sum(counts[1].values())
    out = {}
    for word in set(counts[0]) | set(counts[1]):
        a, b = counts[0][word], counts[1][word]
        e1, e2 = c * (a + b) / (c + d), d * (a + b) / (c + d)
        ll = 2 * ((a * math.log(a / e1) if a else 0) + (b * math.log(b / e2) if b else 0))
        out[word] = {
            "f_target": a, "f_reference": b,
            "per_million_target": a * 1e6 / c, "per_million_reference": b * 1e6 / d,
            "log_likelihood": ll,
            "log_ratio": log2(((a or 0.5) / c) / ((b or 0.5) / d)),
        }
    return out


def frequencies(captions, flt):
    per_document = []
    for _, doc in documents(captions):
        words = [w for c in doc if takes(flt, c) for w in c["words"]]
        if words:
            per_document.append(Counter(words))
    n = sum(sum(c.values()) for c in per_document)
    total = Counter()
    for counts in per_document:
        total.update(counts)
    deviation, shares, docs = defaultdict(float), defaultdict(float), Counter()
    for counts in per_document:
        share = sum(counts.values()) / n
        for word, count in counts.items():
            deviation[word] += abs(count / total[word] - share)
            shares[word] += share
            docs[word] += 1
    return {
        word: {
            "f": f, "per_million": f * 1e6 / n, "documents": docs[word],
            "dp": 0.5 * (deviation[word] + max(0.0, 1 - shares[word])),
        }
        for word, f in total.items()
    }


def main():
    captions = [json.loads(line) for line in sys.stdin if line.strip()]
    mode = sys.argv[1]
    if mode == "collocations":
        out = collocations(captions, sys.argv[2], int(sys.argv[3]), parse_filter(sys.argv[4]))
    elif mode == "keyness":
        reference = parse_filter(sys.argv[3]) if sys.argv[3] else None
        out = keyness(captions, parse_filter(sys.argv[2]), reference)
    else:
        out = frequencies(captions, parse_filter(sys.argv[2]))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
