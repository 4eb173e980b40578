"""Coverage-guided fuzzing of the protocol's decoders (``make fuzz``)."""
