"""Light heads (ridge / logistic / k-NN) on embeddings, with spatial block cross-validation.

Scores are honest: folds are made of whole spatial blocks, and every scaler/PCA is fitted
inside the fold on training rows only. Heads are saved as safetensors + JSON (no pickle).
"""
