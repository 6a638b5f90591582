"""The three interpreters a transform can push: forward (dual numbers), reverse
(tape) and batching."""
