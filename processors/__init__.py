"""The processor service: a faust-streaming app that scores the records stream into Redis."""
