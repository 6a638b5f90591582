"""The op families. Each module registers its primitives (impl, JVP, VJP, batching
rule, NumPy function and jit row rule side by side) and defines the public functions
built on them. They import each other as a ladder, never in a circle: structural.py and
constants.py at the bottom (docs/design.md, "Layers")."""
