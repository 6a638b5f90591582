"""The op families. Each module registers its primitives (impl, JVP, VJP and
batching rule side by side) and defines the public functions built on them."""
