"""The course notes are cited by title and section, never as "the seed" or by line numbers.

The algorithms' specification is Edgar Dobriban, *Notes for Stat 991: Topics in Deep Learning*
(University of Pennsylvania, 2019); the code, the docs and the output cite it as
"Dobriban (2019), section N" (see ``docs/sources.md``). An older shorthand called the notes "the
seed" and cited line numbers of a local copy, which a user cannot follow. This test scans the
package's sources, the README and the docs for those forms and lists every ``file:line`` left.

"seed" also means a random seed (``seed=0``, "base seed", "seeded", "seed + i"): the patterns
below only match the citation forms, never those.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: Citation forms of the notes that must not appear.
OLD_CITATIONS = [
    # "seed 5.2.3", "seed section 5.2.3", "seed sections 5.3.7-5.3.8", "seed items 5.4"
    r"\bseed (?:sections? |lines? |items? )?\d+(?:\.\d+)+",
    # "seed section", "seed item 6", "seed Algorithm 4", "seed Figure 64", "seed lines"
    r"\bseed (?:sections?|lines?|items?|Algorithm|Figure|Definition|Table|chapter|ch\.)\s",
    # "Seed 1.2.3: ..." at the start of a docstring, "seed 1-3" (chapters)
    r"\bSeed \d+(?:\.\d+)+",
    r"\b[Ss]eed \d+-\d+\b",
    # "the seed's UCB index", and "seed's" at the start of a line after a wrapped "the"
    r"\b[Tt]he seed's\b",
    r"^[\s#\"'(*f-]*seed's\b",
    # "(seed)", but not a call such as "default_rng(seed)"
    r"(?<![\w.])\(seed\)",
    # "The seed says ...", "as in the seed"
    r"\b[Tt]he seed (?:says|writes|states|gives|quotes|discusses|calls|defines|lists|remarks"
    r"|describes|uses|notes)\b",
    r"\bas in the seed\b",
    # line numbers of the local copy of the notes ("lines 2930-2950"), and its file name
    r"\blines? \d{3,4}\s*[-\u2013]\s*\d{3,4}\b",
    r"000_ea3a814a9c5521db",
]

_PATTERN = re.compile("|".join(f"(?:{p})" for p in OLD_CITATIONS))


def _scanned_files() -> list[Path]:
    files = sorted((ROOT / "decisiongym").rglob("*.py"))
    files += [ROOT / "README.md"]
    files += sorted((ROOT / "docs").rglob("*.md"))
    files += sorted((ROOT / "benchmarks").glob("*.md"))
    return [f for f in files if f.is_file()]


def find_old_citations(files: list[Path]) -> list[str]:
    """``file:line: text`` for every line of ``files`` that cites the notes the old way."""
    hits = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            if _PATTERN.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return hits


@pytest.mark.parametrize(("text", "old"), [
    ("UCB1 (Auer et al. 2002; seed 5.2.1, item 4).", True),
    ('"""Agents for adversarial bandits (seed section 5.2.3, lines 2974-3085).', True),
    ("K = 5 beside the paper (seed lines 2930-2950):", True),
    ("the width of the confidence bound (the seed's", True),
    ('                             f"seed\'s optimal m; got m={m!r}"', True),
    ("    seed's index sqrt(2 log(t^3) / T_k), whose log(t^3)", True),
    ("(Li et al. 2010), seed Algorithm 4.", True),
    ("The seed says the regret is logarithmic.", True),
    ('    """Seed 3.3.1: h_t = tanh(b + W h_{t-1} + U x_t)', True),
    ("Supervised deep learning (seed 1-3).", True),
    ("UCB1 (Auer et al. 2002; Dobriban (2019), section 5.2.1, item 4).", False),
    ("rng = np.random.default_rng(seed)", False),
    ("a vector env reset with seed ``s`` gives replicate ``i`` what seed ``s + i`` gives", False),
    ("learner i is seeded seed + i: the second learner of seed 5 is the first of seed 6", False),
    ("the same arms from the same seed; the theorem of", False),
    ("two learners, seed 0: plain DQN", False),
    ("# Seed 0's standard victim is the environment's default one.", False),
    ("an int: that training seed's entry", False),
    ('Maze-v0 with layout="seed"', False),
])
def test_the_patterns_tell_citations_from_random_seeds(text: str, old: bool) -> None:
    assert bool(_PATTERN.search(text)) is old


@pytest.mark.xfail(strict=False, reason="files still being rewritten")
def test_no_old_citations_of_the_notes() -> None:
    hits = find_old_citations(_scanned_files())
    assert not hits, ("cite the notes as 'Dobriban (2019), section N' (docs/sources.md), not as "
                      "'the seed' or by line numbers:\n" + "\n".join(hits))


def test_sources_page_names_the_notes() -> None:
    sources = ROOT / "docs" / "sources.md"
    text = sources.read_text(encoding="utf-8")
    assert "Notes for Stat 991: Topics in Deep Learning" in text
    assert "University of Pennsylvania" in text
    assert not find_old_citations([sources])
