"""What an edge device runs: ``model.onnx`` and a scorer needing only onnxruntime,
NumPy and the standard library (the feature step is ``ml_pipeline.core.edge_features``).
Nothing here imports pandas, scikit-learn or MLflow."""
