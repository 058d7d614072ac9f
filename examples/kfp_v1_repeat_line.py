"""The KFP v1 tutorial pipeline "data passing in Python components", unchanged but for imports.

`repeat_line` writes a line many times to a file; `print_text` reads that file and prints it.
Large data goes through files, not values: `OutputPath(str)` gives the function a path to
write, and `InputPath()` a path to read.

It shows:

- `components.func_to_container_op` used as a decorator, as in KFP v1;
- `InputPath()` / `OutputPath(str)`, and KFP v1's naming rule: the `_path` suffix is dropped,
  so `output_text_path` is the output `output_text` and `text_path` is the input `text`;
- `task.output` (the only output of `repeat_line`) passed positionally.

The pipeline function carries `@dsl.pipeline(name=...)`, as most KFP v1 samples do, so that
`sluiceway compile examples/kfp_v1_repeat_line.py` finds it. Without the decorator it still
compiles: `sluiceway compile examples/kfp_v1_repeat_line.py:print_repeating_lines_pipeline`.
"""

from sluiceway import compiler, dsl
from sluiceway.components import InputPath, OutputPath, func_to_container_op


@func_to_container_op
def repeat_line(line: str, output_text_path: OutputPath(str), count: int = 10):
    """Repeat the line specified number of times"""
    with open(output_text_path, "w") as writer:
        for _ in range(count):
            writer.write(line + "\n")


# Reading bigger data
@func_to_container_op
def print_text(text_path: InputPath()):  # The "text" input is untyped so that any data can be printed
    """Print text"""
    with open(text_path) as reader:
        for line in reader:
            print(line, end="")


@dsl.pipeline(name="Print repeating lines")
def print_repeating_lines_pipeline():
    repeat_lines_task = repeat_line(line="Hello", count=5000)
    print_text(repeat_lines_task.output)  # Don't forget .output !


if __name__ == "__main__":
    compiler.Compiler().compile(print_repeating_lines_pipeline, "kfp_v1_repeat_line.yaml")
