"""The trainer service: fit a candidate model (seeded split, persisted preprocessing, a Keras MLP or, for images, a
CNN, early stopping), evaluate it on held-out data, and release it into the registry (register, verify it loads,
promote).

Modules: ``training`` (``TrainConfig``, ``fit_candidate``), ``evaluation`` (pure numpy metrics), ``curves``
(training curves and the evaluation's confusion matrix and ROC curves as PNGs), ``release``
(``register_candidate``). TensorFlow is imported only when a model is built, so importing this package stays cheap.
"""
