"""Container components: steps that run a command line in an image, next to Python steps.

A small text-processing job: write a corpus, split it into sentences with a Python script
run as a command, count the words with a shell pipeline, and report the most common ones.

It shows:

- `@dsl.container_component` returning `dsl.ContainerSpec(image=..., command=..., args=...)`;
- f-string arguments that mix fixed text with the component's inputs and outputs;
- `dsl.OutputPath(str)` and `dsl.InputPath(str)` in container components, and
  `dsl.Output[dsl.Dataset]` with its `.path`;
- passing files between container and Python components.
"""

from sluiceway import compiler, dsl

SPLIT_SENTENCES = """
import argparse, json, os, re
parser = argparse.ArgumentParser()
parser.add_argument("--input", required=True)
parser.add_argument("--min-words", type=int, default=1)
parser.add_argument("--output", required=True)
args = parser.parse_args()
with open(args.input) as handle:
    text = handle.read()
sentences = [s.strip() for s in re.split(r"(?<=[.!?])\\s+", text) if len(s.split()) >= args.min_words]
os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
with open(args.output, "w") as handle:
    for sentence in sentences:
        handle.write(json.dumps({"text": sentence, "words": len(sentence.split())}) + "\\n")
print(f"kept {len(sentences)} sentences")
"""


@dsl.component
def write_corpus(num_paragraphs: int, corpus: dsl.OutputPath(str)):
    """Write a small synthetic corpus of product reviews."""
    import random

    rng = random.Random(5)
    subjects = ["The battery", "The screen", "The camera", "Delivery", "The price", "Support"]
    verdicts = ["is excellent", "was disappointing", "works as described", "could be better", "is great value"]
    extras = ["I would buy it again.", "Not sure yet.", "Five stars.", "Returned it.", "Ok."]
    with open(corpus, "w") as handle:
        for _ in range(num_paragraphs):
            handle.write(" ".join(f"{rng.choice(subjects)} {rng.choice(verdicts)}. {rng.choice(extras)}" for _ in range(3)) + "\n")


@dsl.container_component
def split_sentences(corpus: dsl.InputPath(str), min_words: int, sentences: dsl.Output[dsl.Dataset]):
    """Split the corpus into sentences (JSON lines), keeping those with at least `min_words` words."""
    return dsl.ContainerSpec(
        image="python:3.11-slim",
        command=["python3", "-c", SPLIT_SENTENCES],
        args=[f"--input={corpus}", f"--min-words={min_words}", f"--output={sentences.path}"],
    )


@dsl.container_component
def count_words(corpus: dsl.InputPath(str), top_k: int, counts: dsl.OutputPath(str)):
    """The `top_k` most frequent words, as `uniq -c` prints them."""
    return dsl.ContainerSpec(
        image="busybox:1.36",
        command=["sh", "-c"],
        args=[
            f'mkdir -p "$(dirname "{counts}")" && '
            f'tr -cs "A-Za-z" "\\n" < "{corpus}" | tr "A-Z" "a-z" | grep -v "^$" | sort | uniq -c | sort -rn | head -n {top_k} > "{counts}"'
        ],
    )


@dsl.component
def report_vocabulary(counts: dsl.InputPath(str), sentences: dsl.Input[dsl.Dataset]) -> str:
    """Print the most common words and the average sentence length; return the top word."""
    import json

    with open(counts) as handle:
        top = [line.split() for line in handle if line.strip()]
    with open(sentences.path) as handle:
        lengths = [json.loads(line)["words"] for line in handle if line.strip()]
    for count, word in top:
        print(f"{word:<15} {count:>6}")
    print(f"{len(lengths)} sentences, {sum(lengths) / len(lengths):.1f} words on average")
    return top[0][1]


@dsl.pipeline(name="container-components", description="Count the words of a corpus with container and Python components.")
def container_components(num_paragraphs: int = 50, top_k: int = 10):
    corpus = write_corpus(num_paragraphs=num_paragraphs)
    sentences = split_sentences(corpus=corpus.output, min_words=2)
    counts = count_words(corpus=corpus.output, top_k=top_k)
    report_vocabulary(counts=counts.output, sentences=sentences.outputs["sentences"])


if __name__ == "__main__":
    compiler.Compiler().compile(container_components, "container_components.yaml")
